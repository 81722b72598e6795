"""Per-queue concurrency (one processor) and distributed rate limits (all processors)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest
from pydantic import BaseModel

from tandemq.common.errors import ConfigError
from tandemq.common.ratelimit import RateLimit, parse_rate_limit
from tandemq.common.settings import Settings
from tandemq.distributor import Distributor
from tandemq.processor import TaskContext
from tests.conftest import ProcessorFactory


class Slow(BaseModel):
    n: int


async def test_queue_cap_limits_one_queue_and_leaves_the_rest_to_others(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    running: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    release = asyncio.Event()
    others_in = asyncio.Event()
    done = 0
    all_done = asyncio.Event()
    p = await make_processor(
        queues={"emails": 1, "default": 1}, concurrency=10, queue_concurrency={"emails": 2}
    )

    @p.handler(Slow)
    async def slow(task: Slow, ctx: TaskContext) -> None:
        nonlocal done
        running[ctx.queue] += 1
        peak[ctx.queue] = max(peak[ctx.queue], running[ctx.queue])
        if running["default"] == 8 and running["emails"] == 2:  # in either order
            others_in.set()
        await release.wait()
        running[ctx.queue] -= 1
        done += 1
        if done == 20:
            all_done.set()

    await distributor.send_many([Slow(n=i) for i in range(10)], queue="emails")
    await distributor.send_many([Slow(n=i) for i in range(10)], queue="default")
    async with p:
        await asyncio.wait_for(others_in.wait(), 10)  # the 8 slots emails cannot take
        release.set()
        await asyncio.wait_for(all_done.wait(), 20)
    assert peak["emails"] == 2
    assert peak["default"] == 8


async def test_a_capped_queue_refills_when_its_task_finishes_not_on_the_poll(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    finished = asyncio.Event()
    count = 0
    p = await make_processor(
        queues={"emails": 1}, concurrency=8, queue_concurrency={"emails": 1},
        poll_interval_seconds=60,
    )  # fmt: skip

    @p.handler(Slow)
    async def quick(task: Slow, ctx: TaskContext) -> None:
        nonlocal count
        count += 1
        if count == 6:
            finished.set()

    await distributor.send_many([Slow(n=i) for i in range(6)], queue="emails")
    async with p:
        await asyncio.wait_for(finished.wait(), 15)  # a 60 s poll per task would not finish


_CLOCK_SLACK = 0.005


async def test_rate_limit_holds_across_three_processors(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    limit = parse_rate_limit("20/s:2")
    starts: list[float] = []
    enough = asyncio.Event()
    processors = []
    for _ in range(3):
        p = await make_processor(
            queues={"emails": 1}, concurrency=5, rate_limits={"emails": "20/s:2"}
        )

        @p.handler(Slow)
        async def record(task: Slow, ctx: TaskContext) -> None:
            starts.append(time.time())
            if len(starts) >= 60:
                enough.set()

        processors.append(p)
    await distributor.send_many([Slow(n=i) for i in range(150)], queue="emails")
    window_start = time.time()  # no dequeue can happen before this: none is started yet
    for p in processors:
        await p.start()
    await asyncio.wait_for(enough.wait(), 30)
    window_end = time.time()
    for p in processors:
        await p.shutdown()
    ran = sorted(t for t in starts if t <= window_end)
    # The script sees "now" as whole milliseconds from each processor's clock, the test reads
    # float seconds: allow those few milliseconds of granularity, not a rate margin.
    window_start -= _CLOCK_SLACK
    allowed = (window_end - window_start) * 1000 / limit.interval_ms + limit.burst
    assert len(ran) <= allowed, f"{len(ran)} tasks in {window_end - window_start:.2f}s"
    achieved = (len(ran) - 1) / (ran[-1] - ran[0])
    assert achieved >= 0.5 * limit.count, f"only {achieved:.1f}/s"
    # and so does every moment of the run: the k-th start came after k dequeues
    for k, at in enumerate(ran, start=1):
        assert k <= (at - window_start) * 1000 / limit.interval_ms + limit.burst, (k, at)


def test_limits_settings_parse_and_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEMQ_RATE_LIMITS", "emails=100/s,sms=20/m:5")
    monkeypatch.setenv("TANDEMQ_QUEUE_CONCURRENCY", "emails=5")
    s = Settings.load()
    assert s.rate_limits == {"emails": RateLimit(100, 1000, 10), "sms": RateLimit(20, 60_000, 5)}
    assert s.queue_concurrency == {"emails": 5}
    bad: list[tuple[str, str]] = [
        ("TANDEMQ_RATE_LIMITS", "emails=100"),
        ("TANDEMQ_RATE_LIMITS", "emails=0/s"),
        ("TANDEMQ_RATE_LIMITS", "emails=5/d"),
        ("TANDEMQ_QUEUE_CONCURRENCY", "emails=0"),
        ("TANDEMQ_QUEUE_CONCURRENCY", "emails"),
    ]
    for name, value in bad:
        monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError) as info:
            Settings.load()
        assert name in str(info.value) and repr(value) in str(info.value)
        monkeypatch.delenv(name)


def test_rate_limit_defaults_burst_to_a_tenth() -> None:
    rates: dict[str, Any] = {"a": parse_rate_limit("100/s"), "b": parse_rate_limit("5/m")}
    assert rates["a"].burst == 10 and rates["a"].interval_ms == 10
    assert rates["b"].burst == 1 and rates["b"].tolerance_ms == 0
