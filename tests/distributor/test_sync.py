"""SyncDistributor: the same tasks as the async Distributor writes (same scripts, encoding and
checks), usable from many threads at once, with wait, cancel and get_task."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq import (
    BrokerUnavailable,
    InvalidSendOptions,
    SyncDistributor,
    TaskIdConflict,
    TaskNotFound,
    WaitTimeout,
)
from tandemq.common.keys import Keys
from tandemq.common.settings import Settings
from tandemq.distributor import Distributor, core
from tandemq.processor import TaskContext
from tests.conftest import ProcessorFactory
from tests.support import free_port


class Square(BaseModel):
    n: int
    note: str = "x" * 100  # a payload stored in pieces


@pytest.fixture
def sync_distributor(
    redis_url: str, prefix: str, cluster_nodes: str | None
) -> Iterator[SyncDistributor]:
    s = Settings.load(env=False, redis_url=redis_url, prefix=prefix, cluster_nodes=cluster_nodes)
    with SyncDistributor(settings=s) as d:
        yield d


def _comparable(raw: dict[Any, Any]) -> dict[Any, Any]:
    return {k: v for k, v in raw.items() if k not in (b"e", b"n", b"d")}  # times, nonce


async def test_sync_send_writes_what_an_async_send_writes(
    sync_distributor: SyncDistributor, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    options = {
        "queue": "q1",
        "max_retry": 3,
        "timeout": timedelta(seconds=9),
        "retention": timedelta(minutes=2),
        "result_ttl": timedelta(minutes=3),
        "process_in": timedelta(hours=1),
        "headers": {"tenant": "acme"},
    }
    a = await distributor.send(Square(n=4), task_id="from-async", **options)  # type: ignore[arg-type]
    s = await asyncio.to_thread(
        lambda: sync_distributor.send(Square(n=4), task_id="from-sync", **options)  # type: ignore[arg-type]
    )
    assert s.model_dump(exclude={"id", "enqueued_at", "next_process_at"}) == a.model_dump(
        exclude={"id", "enqueued_at", "next_process_at"}
    )
    qk = Keys(prefix).queue("q1")
    assert _comparable(await redis.hgetall(qk.task("from-sync"))) == _comparable(
        await redis.hgetall(qk.task("from-async"))
    )
    many = await asyncio.to_thread(sync_distributor.send_many, [Square(n=i) for i in range(3)])
    stored = [await redis.hgetall(Keys(prefix).queue("default").task(i.id)) for i in many]
    assert [Square.model_validate_json(b"".join(_pieces(h))).n for h in stored] == [0, 1, 2]


def _pieces(fields: dict[Any, Any]) -> list[bytes]:
    keys = [b"p"] + [f"p{i}".encode() for i in range(2, 40)]
    return [fields[k] for k in keys if k in fields]


async def test_sync_distributor_shared_by_threads(
    make_processor: ProcessorFactory,
    redis_url: str,
    prefix: str,
    cluster_nodes: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(core, "WAIT_RECHECK", 60.0)  # finishing in time means being woken
    options = {"redis_url": redis_url, "prefix": prefix, "cluster_nodes": cluster_nodes}
    settings = Settings.load(env=False, **options)
    settings = settings.model_copy(update={"redis_timeout_seconds": 120.0})
    p = await make_processor(concurrency=20)

    @p.handler(Square)
    async def square(task: Square, ctx: TaskContext) -> int:
        return task.n * task.n

    def one_thread(d: SyncDistributor, base: int) -> list[int]:
        sent = [d.send(Square(n=base + i)) for i in range(25)]
        return [d.wait(info.id, timeout=30).result for info in sent]

    loop = asyncio.get_running_loop()
    with SyncDistributor(settings=settings) as d, ThreadPoolExecutor(8) as pool:
        async with p:
            runs = [loop.run_in_executor(pool, one_thread, d, 100 * t) for t in range(8)]
            results = await asyncio.wait_for(asyncio.gather(*runs), 50)
    assert results == [[(100 * t + i) ** 2 for i in range(25)] for t in range(8)]


def test_sync_cancel_get_and_wait(sync_distributor: SyncDistributor) -> None:
    info = sync_distributor.send(Square(n=1), process_in=timedelta(hours=1))
    with pytest.raises(WaitTimeout):
        sync_distributor.wait(info.id, timeout=0.2)
    assert sync_distributor.cancel(info.id) == "canceled"
    assert sync_distributor.wait(info.id, timeout=1).state == "canceled"
    got = sync_distributor.get_task(info.id)
    assert got is not None and got.state == "canceled"
    assert sync_distributor.get_task("never-sent") is None
    with pytest.raises(TaskNotFound):
        sync_distributor.cancel("never-sent")


def test_sync_scheduled_sends_mark_their_queue_due(
    sync_distributor: SyncDistributor, prefix: str
) -> None:
    """The forwarder finds scheduled tasks through p:due, as an async send's; unmarked, a
    scheduled task waits until the forwarder's rotation reaches its queue."""
    later = timedelta(hours=1)
    sync_distributor.send(Square(n=1), queue="one", process_in=later)
    sync_distributor.send_many([Square(n=2)], queue="many", process_in=later)
    sync_distributor.send(Square(n=3), queue="now")
    assert set(sync_distributor.redis.zrange(Keys(prefix).due, 0, -1)) == {b"one", b"many"}


def test_sync_send_refuses_as_the_async_one(sync_distributor: SyncDistributor) -> None:
    with pytest.raises(InvalidSendOptions):
        sync_distributor.send(Square(n=1), max_retry=-1)
    with pytest.raises(InvalidSendOptions):
        sync_distributor.send(Square(n=1), result_ttl=timedelta(0))
    sync_distributor.send(Square(n=1), task_id="mine")
    with pytest.raises(TaskIdConflict):
        sync_distributor.send(Square(n=1), task_id="mine")


def test_sync_send_without_redis_raises_broker_unavailable() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    settings = Settings.load(env=False, redis_url=url, redis_retries=0)
    d = SyncDistributor(settings=settings)
    with pytest.raises(BrokerUnavailable):
        d.send(Square(n=1))
    d.close()
