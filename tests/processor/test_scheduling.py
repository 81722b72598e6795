"""Semantic 3: process_in / process_at: never early, promptly when due, at scale."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.keys import Keys
from tandemq.distributor import Distributor
from tandemq.processor import TaskContext
from tests.conftest import ProcessorFactory

LATE_BOUND = 1.5  # "starts within ~1 s after due"; the forwarder sleeps at most 0.25 s


class Stamp(BaseModel):
    n: int


async def test_process_in_runs_after_due_and_promptly(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    started: dict[int, float] = {}
    all_in = asyncio.Event()
    p = await make_processor(concurrency=4)

    @p.handler(Stamp)
    async def stamp(task: Stamp, ctx: TaskContext) -> None:
        started[task.n] = time.time()
        if len(started) == 3:
            all_in.set()

    async with p:
        due = {}
        for n, delay in enumerate((0.5, 1.0, 1.5)):
            info = await distributor.send(Stamp(n=n), process_in=timedelta(seconds=delay))
            assert info.state == "scheduled"
            assert info.next_process_at is not None
            due[n] = info.next_process_at.timestamp()
        await asyncio.wait_for(all_in.wait(), 10)
    for n, at in due.items():
        assert started[n] >= at, f"task {n} started {at - started[n]:.3f}s early"
        assert started[n] - at < LATE_BOUND


async def test_process_at_runs_after_due(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    started: list[float] = []
    ran = asyncio.Event()
    p = await make_processor()

    @p.handler(Stamp)
    async def stamp(task: Stamp, ctx: TaskContext) -> None:
        started.append(time.time())
        ran.set()

    when = datetime.now(UTC) + timedelta(seconds=1)
    async with p:
        await distributor.send(Stamp(n=0), process_at=when)
        await asyncio.wait_for(ran.wait(), 10)
    assert when.timestamp() <= started[0] < when.timestamp() + LATE_BOUND


async def test_due_tasks_run_on_time_with_100k_scheduled_behind_them(
    make_processor: ProcessorFactory, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    later = [Stamp(n=i) for i in range(100_000)]
    await distributor.send_many(later, process_in=timedelta(hours=1))
    started: dict[int, float] = {}
    all_in = asyncio.Event()
    p = await make_processor(concurrency=10)

    @p.handler(Stamp)
    async def stamp(task: Stamp, ctx: TaskContext) -> None:
        started[task.n] = time.time()
        if len(started) == 5:
            all_in.set()

    async with p:
        infos = await distributor.send_many(
            [Stamp(n=-i) for i in range(1, 6)], process_in=timedelta(seconds=1)
        )
        await asyncio.wait_for(all_in.wait(), 15)
    due = infos[0].next_process_at
    assert due is not None
    for at in started.values():
        assert due.timestamp() <= at < due.timestamp() + LATE_BOUND
    assert await redis.zcard(Keys(prefix).queue("default").scheduled) == 100_000


async def test_many_tasks_due_together_all_run_once(
    make_processor: ProcessorFactory, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    n = 20_000
    runs: dict[int, int] = {}
    done = asyncio.Event()
    p = await make_processor(concurrency=50)

    @p.handler(Stamp)
    async def stamp(task: Stamp, ctx: TaskContext) -> None:
        runs[task.n] = runs.get(task.n, 0) + 1
        if len(runs) == n:
            done.set()

    await distributor.send_many([Stamp(n=i) for i in range(n)], process_in=timedelta(seconds=1))
    async with p:
        await asyncio.wait_for(done.wait(), 120)
    assert set(runs) == set(range(n))
    assert max(runs.values()) == 1
    queue = Keys(prefix).queue("default")
    assert await redis.zcard(queue.scheduled) == 0
