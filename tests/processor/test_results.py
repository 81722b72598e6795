"""Results and waiting: a handler's return value is stored with the task for result_ttl, wait()
is woken by the script that finishes the task (not by polling), and what get_task and wait say
about a task that is gone."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq import InvalidResult, TaskNotFound, WaitTimeout
from tandemq.common.clock import now_ms
from tandemq.common.keys import Keys
from tandemq.common.task import DEFAULT_KEEP_MS
from tandemq.distributor import Distributor, core
from tandemq.processor import TaskContext
from tests.conftest import ProcessorFactory
from tests.support import eventually


class Add(BaseModel):
    a: int
    b: int


class Sum(BaseModel):
    total: int


class Job(BaseModel):
    kind: str


@pytest.fixture
def no_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    """wait() re-reads the task only every 60 s: a test that finishes quicker was woken."""
    monkeypatch.setattr(core, "WAIT_RECHECK", 60.0)


async def test_model_result_is_stored_and_kept_for_result_ttl(
    make_processor: ProcessorFactory, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    p = await make_processor()

    @p.handler(Add)
    async def add(task: Add, ctx: TaskContext) -> Sum:
        return Sum(total=task.a + task.b)

    async with p:
        info = await distributor.send(Add(a=2, b=3), result_ttl=timedelta(minutes=5))
        before = now_ms()
        done = await distributor.wait(info.id, timeout=10)
    assert done.state == "completed"
    assert done.result == {"total": 5}
    assert done.result_ttl == timedelta(minutes=5)
    expiry = await redis.zscore(Keys(prefix).queue("default").completed, info.id)
    assert expiry is not None and before + 299_000 <= expiry <= now_ms() + 300_000


async def test_json_value_result_uses_the_default_ttl(
    make_processor: ProcessorFactory, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    p = await make_processor()

    @p.handler(Job)
    def job(task: Job, ctx: TaskContext) -> Any:  # a sync handler, in the thread pool
        return {"kind": task.kind, "items": [1, 2, 3]}

    async with p:
        info = await distributor.send(Job(kind="report"))
        done = await distributor.wait(info.id, timeout=10)
    assert done.result == {"kind": "report", "items": [1, 2, 3]}
    expiry = await redis.zscore(Keys(prefix).queue("default").completed, info.id)
    assert expiry is not None and expiry > now_ms() + DEFAULT_KEEP_MS - 60_000


async def test_none_result_deletes_the_task_as_before(
    make_processor: ProcessorFactory, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    ran = asyncio.Event()
    p = await make_processor()

    @p.handler(Job)
    async def job(task: Job, ctx: TaskContext) -> None:
        ran.set()

    queue = Keys(prefix).queue("default")
    async with p:
        info = await distributor.send(Job(kind="noop"))
        await asyncio.wait_for(ran.wait(), 10)
        await eventually(lambda: redis.zcard(queue.active), lambda n: n == 0)
    assert not await redis.exists(queue.task(info.id))
    assert await redis.zcard(queue.completed) == 0
    assert await distributor.get_task(info.id) is None  # no tombstone on the no-op path


async def test_unstorable_result_archives_the_task(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    p = await make_processor()

    @p.handler(Job)
    async def job(task: Job, ctx: TaskContext) -> object:
        return object()

    async with p:
        info = await distributor.send(Job(kind="bad"), max_retry=5)
        done = await distributor.wait(info.id, timeout=10)
    assert done.state == "archived"
    assert done.retried == 0
    assert InvalidResult.__name__ in (done.last_error or "")


async def test_wait_is_woken_by_the_ack(
    make_processor: ProcessorFactory, distributor: Distributor, no_recheck: None
) -> None:
    release = asyncio.Event()
    p = await make_processor()

    @p.handler(Add)
    async def add(task: Add, ctx: TaskContext) -> int:
        await release.wait()
        return task.a + task.b

    async with p:
        info = await distributor.send(Add(a=1, b=1))
        waiter = asyncio.create_task(distributor.wait(info.id, timeout=30))
        await asyncio.sleep(0)  # let the waiter register before the task can finish
        release.set()
        done = await asyncio.wait_for(waiter, 20)  # well before the 60 s re-read
    assert done.state == "completed" and done.result == 2


async def test_every_waiter_of_a_task_is_woken(
    make_processor: ProcessorFactory, distributor: Distributor, no_recheck: None
) -> None:
    release = asyncio.Event()
    p = await make_processor()

    @p.handler(Job)
    async def job(task: Job, ctx: TaskContext) -> None:  # no result: kept for the waiters
        await release.wait()

    async with p:
        info = await distributor.send(Job(kind="shared"))
        waiters = [asyncio.create_task(distributor.wait(info.id, timeout=30)) for _ in range(3)]
        await eventually(lambda: _registered(distributor, info.id), all)
        release.set()
        done = await asyncio.wait_for(asyncio.gather(*waiters), 20)
    assert [d.state for d in done] == ["completed"] * 3


async def _registered(distributor: Distributor, task_id: str) -> list[bool]:
    raw = await distributor.redis.hget(distributor._broker.keys.queue("default").task(task_id), "w")
    return [raw is not None]


async def test_wait_returns_an_archived_task(
    make_processor: ProcessorFactory, distributor: Distributor, no_recheck: None
) -> None:
    p = await make_processor()

    @p.handler(Job)
    async def job(task: Job, ctx: TaskContext) -> None:
        raise ValueError("always")

    async with p:
        info = await distributor.send(Job(kind="fails"), max_retry=0)
        done = await distributor.wait(info.id, timeout=20)
    assert done.state == "archived" and "always" in (done.last_error or "")


async def test_wait_on_a_finished_task_returns_at_once(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    p = await make_processor()

    @p.handler(Add)
    async def add(task: Add, ctx: TaskContext) -> int:
        return task.a * task.b

    async with p:
        info = await distributor.send(Add(a=6, b=7))
        await distributor.wait(info.id, timeout=10)
    again = await distributor.wait(info.id, timeout=0)  # no processor now: no wait needed
    assert again.result == 42


async def test_wait_times_out_with_wait_timeout(distributor: Distributor) -> None:
    info = await distributor.send(Job(kind="nobody runs it"))
    with pytest.raises(WaitTimeout) as caught:
        await distributor.wait(info.id, timeout=0.2)
    assert isinstance(caught.value, TimeoutError)
    assert info.id in str(caught.value)


async def test_wait_for_an_unknown_task_raises_task_not_found(distributor: Distributor) -> None:
    with pytest.raises(TaskNotFound, match="never existed"):
        await distributor.wait("no-such-task", timeout=1)


async def test_forgotten_task_leaves_a_tombstone(
    distributor: Distributor, redis: Redis, prefix: str
) -> None:
    info = await distributor.send(Job(kind="kept"), retention=timedelta(milliseconds=1))
    broker = distributor._broker
    qk = broker.keys.queue("default")
    # leased first (a plain send waits as an envelope until a lease writes its hash), then
    # marked completed with an expiry in the past, as ack.lua does; trim deletes it
    taken, _ = await broker.dequeue({"default": 1}, "w1", 60_000)
    assert [m.id for m in taken["default"]] == [info.id]
    await redis.zrem(qk.active, info.id)
    await redis.hset(qk.task(info.id), mapping={"s": "completed", "c": now_ms() - 10})
    await redis.zadd(qk.completed, {info.id: now_ms() - 5})
    assert await broker.trim(["default"], 100, 3_600_000) == 1
    gone = await distributor.get_task(info.id)
    assert gone is not None and gone.forgotten and gone.state == "completed"
    assert gone.type == info.type and gone.completed_at is not None
    assert 0 < await redis.pttl(qk.tombstone(info.id)) <= 3_600_000
    assert (await distributor.wait(info.id, timeout=0)).forgotten
    assert await distributor.get_task("never-sent") is None


async def test_result_passes_through_middleware(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    p = await make_processor()
    seen: list[object] = []

    @p.middleware
    async def outer(payload: BaseModel, ctx: TaskContext, call_next: Any) -> Any:
        value = await call_next()
        seen.append(value)
        return value

    @p.handler(Add)
    async def add(task: Add, ctx: TaskContext) -> Sum:
        return Sum(total=task.a + task.b)

    async with p:
        info = await distributor.send(Add(a=20, b=22))
        done = await distributor.wait(info.id, timeout=10)
    assert seen == [Sum(total=42)]
    assert done.result == {"total": 42}
