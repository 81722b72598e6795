"""Semantic 7: an idle processor starts a new task within milliseconds of send: a wake-up,
not a polling sleep (the fallback poll is set to 5 s here, so polling could not pass)."""

from __future__ import annotations

import asyncio
import statistics
import time

from pydantic import BaseModel

from tandemq.distributor import Distributor
from tandemq.processor import TaskContext
from tests.conftest import ProcessorFactory


class Ping(BaseModel):
    sent: float


async def test_idle_processor_starts_new_task_without_polling_delay(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    delays: list[float] = []
    got = asyncio.Event()
    p = await make_processor(poll_interval_seconds=5.0)

    @p.handler(Ping)
    async def ping(task: Ping, ctx: TaskContext) -> None:
        delays.append(time.perf_counter() - task.sent)
        got.set()

    async with p:
        assert p._parts is not None
        idle = p._parts.fetcher.idle  # set while the fetcher waits on the wake-up or the poll
        for _ in range(20):
            await asyncio.wait_for(idle.wait(), 10)  # idle: its last fetch found nothing
            got.clear()
            await distributor.send(Ping(sent=time.perf_counter()))
            await asyncio.wait_for(got.wait(), 10)
    # Generous bounds for a loaded 2-core machine; the point is "not a 5 s poll".
    assert statistics.median(delays) < 0.05, delays
    assert max(delays) < 1.0, delays
