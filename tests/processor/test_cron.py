"""Periodic tasks on real processors: each tick enqueued once, missed ticks by policy."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from datetime import timedelta

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.clock import now_ms
from tandemq.common.cron_registry import list_cron_entries
from tandemq.common.errors import ConfigError
from tandemq.common.keys import Keys
from tandemq.processor import Processor, TaskContext
from tandemq.processor.cron import Scheduler, cron_schedule, make_entry
from tandemq.processor.periodic import repeat
from tests.conftest import ProcessorFactory
from tests.support import eventually, logged

HOUR = 3_600_000


class Tick(BaseModel):
    label: str = "tick"


def _tick_of(task_id: str) -> int:
    return int(task_id.rsplit(":", 1)[1])


class Ledger:
    """Task ids run, in order; wakes a waiter once ``n`` distinct ticks ran."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._changed = asyncio.Event()

    def handler(self, p: Processor) -> None:
        @p.handler(Tick)
        async def tick(payload: Tick, ctx: TaskContext) -> None:
            self.ids.append(ctx.id)
            self._changed.set()

    async def wait_for(self, n: int, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while len(set(self.ids)) < n:
                self._changed.clear()
                await self._changed.wait()


async def _three(
    make_processor: ProcessorFactory, ledger: Ledger, **cron: object
) -> list[Processor]:
    ps = []
    for _ in range(3):
        p = await make_processor(queues={"cron": 1})
        p.cron("* * * * * *", Tick(), queue="cron", name="every-second", **cron)  # type: ignore[arg-type]
        ledger.handler(p)
        ps.append(p)
    return ps


def _assert_once_and_consecutive(ids: list[str]) -> list[int]:
    counts = Counter(ids)
    assert max(counts.values()) == 1, f"ticks run twice: {[i for i, n in counts.items() if n > 1]}"
    ticks = sorted(_tick_of(i) for i in ids)
    return ticks


async def test_three_processors_enqueue_each_tick_once_and_catch_up_once(
    make_processor: ProcessorFactory,
) -> None:
    ledger = Ledger()
    ps = await _three(make_processor, ledger)
    for p in ps:
        await p.start()
    await ledger.wait_for(4)
    for p in ps:
        await p.shutdown()
    before = _assert_once_and_consecutive(ledger.ids)
    assert [b - a for a, b in itertools.pairwise(before)] == [1000] * (len(before) - 1)
    await asyncio.sleep(3.5)  # not a synchronisation: every processor is down for a few ticks
    restarted = now_ms()
    ps = await _three(make_processor, ledger)
    for p in ps:
        await p.start()
    await ledger.wait_for(len(set(ledger.ids)) + 3)
    for p in ps:
        await p.shutdown()
    ticks = _assert_once_and_consecutive(ledger.ids)
    missed = [t for t in ticks if before[-1] < t < restarted - 2000]
    assert missed == [], "ticks of the downtime ran one by one (a burst)"
    caught_up = [t for t in ticks if restarted - 2000 <= t < restarted - 1000]
    assert len(caught_up) <= 1


async def test_skewed_clocks_enqueue_each_tick_once(
    make_processor: ProcessorFactory, broker: Broker
) -> None:
    ledger = Ledger()
    consumer = await make_processor(queues={"cron": 1})
    ledger.handler(consumer)
    schedulers = []
    for skew in (-1000, 0, 1000):  # clocks a second behind, right, a second ahead
        entry = make_entry(cron_schedule("* * * * * *", "UTC"), "cron", Tick(), "run_once",
                           "skewed", {"queue": "cron"})  # fmt: skip
        clock = lambda skew=skew: now_ms() + skew  # noqa: E731
        schedulers.append(Scheduler(broker, [entry], clock=clock))
    async with consumer:
        loops = [asyncio.create_task(repeat(s.step, "cron")) for s in schedulers]
        try:
            await ledger.wait_for(5)
        finally:
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
    ticks = _assert_once_and_consecutive(ledger.ids)
    assert [b - a for a, b in itertools.pairwise(ticks)] == [1000] * (len(ticks) - 1)


@pytest.mark.parametrize("missed", ["run_once", "skip"])
async def test_missed_ticks_after_downtime_follow_the_policy(
    make_processor: ProcessorFactory,
    redis: Redis,
    prefix: str,
    missed: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tandemq")
    now = now_ms()
    offset = (now - 600_000) % HOUR  # hourly ticks, the latest 10 minutes ago
    latest = now - 600_000
    await redis.hset(Keys(prefix).cron_state("cron", "hourly"), "last", latest - 3 * HOUR)
    ledger = Ledger()
    ps = []
    for _ in range(3):
        p = await make_processor(queues={"cron": 1})
        p.every(timedelta(hours=1), Tick(), offset=timedelta(milliseconds=offset),
                missed=missed, name="hourly", queue="cron")  # type: ignore[arg-type]  # fmt: skip
        ledger.handler(p)
        ps.append(p)
    for p in ps:
        await p.start()
    if missed == "run_once":
        await ledger.wait_for(1)
    else:

        async def skipped() -> bool:
            return bool(logged(caplog, "cron.skipped"))

        await eventually(skipped, bool, timeout=10)
    for p in ps:
        await p.shutdown()
    assert ledger.ids == ([f"cron:hourly:{latest}"] if missed == "run_once" else [])
    entries = await list_cron_entries(redis, prefix)
    assert [e.id for e in entries] == ["hourly"]
    last = entries[0].last_run
    assert last is not None
    expected_last = latest if missed == "run_once" else latest - 3 * HOUR
    assert int(last.timestamp() * 1000) == expected_last


async def test_listing_shows_entries_with_last_and_next_run(
    make_processor: ProcessorFactory, redis: Redis, prefix: str
) -> None:
    ledger = Ledger()
    p = await make_processor(queues={"cron": 1})
    p.cron("* * * * * *", Tick(label="x"), queue="cron", name="listed")
    p.cron("0 9 * * *", Tick(), tz="Europe/Riga", queue="cron", name="morning")
    ledger.handler(p)
    async with p:
        await ledger.wait_for(1)
    started = time.time()
    entries = {e.id: e for e in await list_cron_entries(redis, prefix)}
    assert set(entries) == {"listed", "morning"}
    listed = entries["listed"]
    assert listed.payload == {"label": "x"} and listed.queue == "cron"
    assert listed.last_run is not None and listed.next_run is not None
    assert listed.next_run.timestamp() - listed.last_run.timestamp() == 1
    assert listed.last_run.timestamp() <= started
    assert entries["morning"].schedule == "0 9 * * * (Europe/Riga)"
    assert entries["morning"].last_run is None


async def test_registration_errors_are_config_errors(make_processor: ProcessorFactory) -> None:
    p = await make_processor()
    with pytest.raises(ConfigError, match="process_in"):
        p.cron("* * * * *", Tick(), process_in=timedelta(seconds=1))
    with pytest.raises(ConfigError, match="unknown time zone"):
        p.cron("* * * * *", Tick(), tz="Nowhere/Land")
    p.cron("* * * * *", Tick(), name="dup")
    with pytest.raises(ConfigError, match="already registered"):
        p.cron("*/2 * * * *", Tick(), name="dup")
