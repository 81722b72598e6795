"""Semantic 4: retries with retry_delay up to max_retry, then archive with the traceback;
SkipRetry and RetryIn; the archive bounded by size and age."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.keys import Keys
from tandemq.common.task import TaskInfo
from tandemq.distributor import Distributor
from tandemq.processor import RetryIn, SkipRetry, TaskContext
from tests.conftest import ProcessorFactory
from tests.support import eventually


class Flaky(BaseModel):
    fail_times: int


class Hopeless(BaseModel):
    n: int = 0


def _fast(retried: int, error: BaseException, task: TaskInfo) -> timedelta:
    return timedelta(milliseconds=10)


async def _state(distributor: Distributor, task_id: str) -> str | None:
    info = await distributor.get_task(task_id)
    return None if info is None else info.state


async def test_failing_task_is_retried_until_it_succeeds(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    attempts: list[int] = []
    p = await make_processor(retry_delay=_fast)

    @p.handler(Flaky)
    async def flaky(task: Flaky, ctx: TaskContext) -> None:
        attempts.append(ctx.attempt)
        if ctx.retried < task.fail_times:
            raise ValueError(f"failure {ctx.retried}")

    async with p:
        info = await distributor.send(
            Flaky(fail_times=3), max_retry=5, retention=timedelta(minutes=1)
        )
        await eventually(lambda: _state(distributor, info.id), lambda s: s == "completed")
    assert attempts == [1, 2, 3, 4]
    done = await distributor.get_task(info.id)
    assert done is not None
    assert done.retried == 3
    assert done.completed_at is not None


async def test_archived_after_max_retry_with_traceback_kept(
    make_processor: ProcessorFactory, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    calls: list[tuple[int, str, str]] = []
    seen: list[TaskInfo] = []

    def policy(retried: int, error: BaseException, task: TaskInfo) -> timedelta:
        calls.append((retried, str(error), task.id))
        seen.append(task)
        return timedelta(milliseconds=10)

    p = await make_processor(retry_delay=policy)

    @p.handler(Hopeless)
    async def hopeless(task: Hopeless, ctx: TaskContext) -> None:
        raise RuntimeError(f"attempt {ctx.attempt} failed")

    async with p:
        info = await distributor.send(Hopeless(), max_retry=2)
        await eventually(lambda: _state(distributor, info.id), lambda s: s == "archived")
    archived = await distributor.get_task(info.id)
    assert archived is not None
    assert archived.retried == 2
    assert archived.last_error is not None
    assert "Traceback" in archived.last_error
    assert "RuntimeError: attempt 3 failed" in archived.last_error
    assert calls == [(0, "attempt 1 failed", info.id), (1, "attempt 2 failed", info.id)]
    first = seen[0]  # the policy sees the task as the processor holds it, payload included
    assert (first.type, first.queue, first.state, first.max_retry) == (
        info.type, "default", "active", 2,
    )  # fmt: skip
    assert first.payload == {"n": 0}
    assert first.enqueued_at == info.enqueued_at
    assert await redis.zscore(Keys(prefix).queue("default").archived, info.id) is not None


async def test_skip_retry_archives_at_once(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    p = await make_processor(retry_delay=_fast)
    runs = 0

    @p.handler(Hopeless)
    async def hopeless(task: Hopeless, ctx: TaskContext) -> None:
        nonlocal runs
        runs += 1
        raise SkipRetry("not worth retrying")

    async with p:
        info = await distributor.send(Hopeless(), max_retry=10)
        await eventually(lambda: _state(distributor, info.id), lambda s: s == "archived")
    archived = await distributor.get_task(info.id)
    assert archived is not None
    assert runs == 1
    assert archived.retried == 0
    assert "not worth retrying" in (archived.last_error or "")


async def test_retry_in_sets_the_next_attempt(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    p = await make_processor()

    @p.handler(Hopeless)
    async def hopeless(task: Hopeless, ctx: TaskContext) -> None:
        raise RetryIn(timedelta(minutes=5), "rate limited")

    async with p:
        info = await distributor.send(Hopeless(), max_retry=3)
        retry = await eventually(
            lambda: distributor.get_task(info.id), lambda i: i is not None and i.state == "retry"
        )
    assert retry is not None
    assert retry.next_process_at is not None
    assert retry.failed_at is not None
    wait = retry.next_process_at - retry.failed_at
    assert timedelta(minutes=4, seconds=59) <= wait <= timedelta(minutes=5, seconds=1)


async def test_archive_is_bounded_by_size(
    make_processor: ProcessorFactory, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    p = await make_processor(archive_max_size=5, concurrency=4)

    @p.handler(Hopeless)
    async def hopeless(task: Hopeless, ctx: TaskContext) -> None:
        raise SkipRetry("no")

    queue = Keys(prefix).queue("default")
    infos = await distributor.send_many([Hopeless(n=i) for i in range(12)])
    async with p:
        await eventually(lambda: redis.llen(queue.pending), lambda n: n == 0)
        await eventually(lambda: redis.zcard(queue.archived), lambda n: n == 5, timeout=10)
        await eventually(lambda: redis.zcard(queue.active), lambda n: n == 0)
    kept = {i.decode() for i in await redis.zrange(queue.archived, 0, -1)}
    gone = [i.id for i in infos if i.id not in kept]
    assert len(gone) == 7
    for task_id in gone:  # trimmed tasks leave no hash behind
        assert await redis.exists(queue.task(task_id)) == 0


async def test_archive_is_bounded_by_age(
    make_processor: ProcessorFactory, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    p = await make_processor(archive_max_age_seconds=0.5)

    @p.handler(Hopeless)
    async def hopeless(task: Hopeless, ctx: TaskContext) -> None:
        raise SkipRetry("no")

    queue = Keys(prefix).queue("default")
    async with p:
        info = await distributor.send(Hopeless())
        await eventually(lambda: _state(distributor, info.id), lambda s: s == "archived")
        # deleted: only its tombstone is left (state and type, docs/RESULTS.md)
        gone = await eventually(
            lambda: distributor.get_task(info.id), lambda i: i is not None and i.forgotten, 10
        )
    assert gone is not None and gone.state == "archived" and gone.payload is None
    assert await redis.zcard(queue.archived) == 0


async def test_task_longer_than_its_lease_runs_once(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    # The heartbeat renews the 1 s lease every third of it, so the recoverer never takes the
    # task back while it runs for 3 s.
    runs = 0
    p = await make_processor(lease_seconds=1)

    @p.handler(Hopeless)
    async def slow(task: Hopeless, ctx: TaskContext) -> None:
        nonlocal runs
        runs += 1
        await asyncio.sleep(3)

    async with p:
        info = await distributor.send(Hopeless(), retention=timedelta(minutes=1))
        done = await eventually(
            lambda: distributor.get_task(info.id),
            lambda i: i is not None and i.state == "completed",
            timeout=10,
        )
    assert runs == 1
    assert done is not None
    assert done.retried == 0
