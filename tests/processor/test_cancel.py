"""Cancellation: a waiting task (pending, scheduled, retry) is taken out and marked canceled; a
running one has its handler cancelled on whichever processor runs it and is never retried."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from datetime import timedelta

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq import TaskCanceled, TaskNotFound
from tandemq.common.broker import Broker
from tandemq.common.clock import now_ms
from tandemq.common.keys import Keys
from tandemq.common.task import DEFAULT_KEEP_MS, TaskInfo
from tandemq.distributor import Distributor
from tandemq.processor import Processor, TaskContext
from tests.conftest import ProcessorFactory
from tests.support import eventually


class Job(BaseModel):
    n: int = 0


def _slow_retry(retried: int, error: BaseException, task: TaskInfo) -> timedelta:
    return timedelta(hours=1)


async def test_pending_task_is_canceled_and_never_runs(
    make_processor: ProcessorFactory, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    qk = Keys(prefix).queue("default")
    info = await distributor.send(Job(n=1))
    assert await distributor.cancel(info.id) == "canceled"
    canceled = await distributor.get_task(info.id)
    assert canceled is not None and canceled.state == "canceled"
    assert canceled.completed_at is not None
    assert await redis.llen(qk.pending) == 0
    expiry = await redis.zscore(qk.canceled, info.id)
    assert expiry is not None and expiry > now_ms() + DEFAULT_KEEP_MS - 60_000

    ran: list[int] = []
    p = await make_processor()

    @p.handler(Job)
    async def job(task: Job, ctx: TaskContext) -> None:
        ran.append(task.n)

    async with p:
        marker = await distributor.send(Job(n=2))
        await distributor.wait(marker.id, timeout=10)
    assert ran == [2]


async def test_scheduled_task_is_canceled(
    distributor: Distributor, redis: Redis, prefix: str
) -> None:
    info = await distributor.send(Job(), process_in=timedelta(hours=1))
    assert await distributor.cancel(info.id) == "canceled"
    assert await redis.zcard(Keys(prefix).queue("default").scheduled) == 0
    assert (await distributor.wait(info.id, timeout=0)).state == "canceled"


async def test_task_waiting_for_retry_is_canceled(
    make_processor: ProcessorFactory, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    p = await make_processor(retry_delay=_slow_retry)

    @p.handler(Job)
    async def job(task: Job, ctx: TaskContext) -> None:
        raise ValueError("fails once, retried in an hour")

    async with p:
        info = await distributor.send(Job())
        await eventually(
            lambda: distributor.get_task(info.id), lambda i: i is not None and i.state == "retry"
        )
        assert await distributor.cancel(info.id) == "canceled"
    assert await redis.zcard(Keys(prefix).queue("default").retry) == 0
    done = await distributor.get_task(info.id)
    assert done is not None and done.state == "canceled" and done.retried == 1


async def test_cancel_releases_the_unique_lock(distributor: Distributor) -> None:
    first = await distributor.send(Job(n=7), unique_for=timedelta(hours=1))
    await distributor.cancel(first.id)
    second = await distributor.send(Job(n=7), unique_for=timedelta(hours=1))
    assert second.id != first.id


async def test_cancel_of_a_finished_or_unknown_task(distributor: Distributor) -> None:
    info = await distributor.send(Job())
    assert await distributor.cancel(info.id) == "canceled"
    assert await distributor.cancel(info.id) == "finished"
    with pytest.raises(TaskNotFound):
        await distributor.cancel("never-sent")


async def test_running_task_is_cancelled_on_the_processor_running_it(
    make_processor: ProcessorFactory, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    started: list[str] = []
    cancelled: list[str] = []
    running = asyncio.Event()

    def install(p: Processor, name: str) -> None:
        @p.handler(Job)
        async def job(task: Job, ctx: TaskContext) -> None:
            started.append(name)
            running.set()
            try:
                await asyncio.Event().wait()  # runs until cancelled
            except asyncio.CancelledError:
                cancelled.append(name)
                raise

    p1, p2 = await make_processor(), await make_processor()
    install(p1, "p1")
    install(p2, "p2")
    async with p1, p2:
        info = await distributor.send(Job(), max_retry=5)
        await asyncio.wait_for(running.wait(), 10)
        sent = time.monotonic()
        assert await distributor.cancel(info.id) == "canceling"
        done = await distributor.wait(info.id, timeout=10)
        print(f"cancel to canceled: {(time.monotonic() - sent) * 1000:.1f} ms")
    assert started == cancelled and len(started) == 1  # stopped where it ran, and only there
    assert done.state == "canceled" and done.retried == 0
    assert TaskCanceled.__name__ in (done.last_error or "")
    qk = Keys(prefix).queue("default")
    for key in (qk.active, qk.retry):
        assert await redis.zcard(key) == 0
    assert await redis.llen(qk.pending) == 0


async def test_handler_that_swallows_the_cancel_is_still_canceled(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    running = asyncio.Event()
    p = await make_processor(concurrency=1)

    @p.handler(Job)
    async def job(task: Job, ctx: TaskContext) -> int:
        if task.n:
            return task.n
        running.set()
        with contextlib.suppress(asyncio.CancelledError):  # swallowed: canceled all the same
            await asyncio.Event().wait()
        return -1

    async with p:
        info = await distributor.send(Job())
        await asyncio.wait_for(running.wait(), 10)
        await distributor.cancel(info.id)
        done = await distributor.wait(info.id, timeout=10)
        # the one worker that ran it goes on serving
        again = await distributor.wait((await distributor.send(Job(n=5))).id, timeout=10)
    assert done.state == "canceled" and done.result is None
    assert again.state == "completed" and again.result == 5


async def test_flagged_task_that_fails_is_canceled_not_retried(
    broker: Broker, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    info = await distributor.send(Job(), max_retry=5)
    await broker.dequeue({"default": 1}, "owner-1", 60_000)
    assert await distributor.cancel(info.id) == "canceling"
    assert await broker.retry("default", info.id, "owner-1", now_ms(), "ValueError: late")
    done = await distributor.get_task(info.id)
    assert done is not None and done.state == "canceled" and done.retried == 0
    assert await redis.zcard(Keys(prefix).queue("default").retry) == 0


async def test_flagged_task_whose_lease_expires_is_canceled_not_retried(
    broker: Broker, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    info = await distributor.send(Job(), max_retry=5)
    await broker.dequeue({"default": 1}, "owner-1", 1)
    await distributor.cancel(info.id)
    while await redis.zcard(Keys(prefix).queue("default").active):
        await broker.recover(["default"], "LeaseExpired")
    done = await distributor.get_task(info.id)
    assert done is not None and done.state == "canceled"
    assert await redis.zcard(Keys(prefix).queue("default").retry) == 0


async def test_running_sync_handler_is_recorded_canceled(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    # A thread cannot be interrupted: the processor stops waiting for it, records the task
    # canceled, and the thread runs on until released.
    entered, release = threading.Event(), threading.Event()
    p = await make_processor()

    @p.handler(Job)
    def job(task: Job, ctx: TaskContext) -> int:
        entered.set()
        release.wait(30)
        return 1

    async with p:
        info = await distributor.send(Job())
        assert await asyncio.to_thread(entered.wait, 10)
        assert await distributor.cancel(info.id) == "canceling"
        done = await distributor.wait(info.id, timeout=10)
        release.set()
    assert done.state == "canceled" and done.result is None
