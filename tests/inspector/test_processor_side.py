"""What processors write for the inspector, with real processors: paused queues skipped,
processed and failed counted, and a heartbeat record per live processor that goes away on
shutdown (at once) and on a SIGKILL (after a few heartbeats)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from tandemq.common.errors import SkipRetry
from tandemq.common.task import TaskState
from tandemq.distributor import Distributor
from tandemq.inspector import Inspector
from tandemq.processor import TaskContext
from tests.conftest import ProcessorFactory
from tests.support import eventually, logged, subprocess_env

ROOT = Path(__file__).resolve().parents[2]


class Step(BaseModel):
    n: int
    fail: bool = False


async def _logged(caplog: pytest.LogCaptureFixture, event: str, queue: str) -> bool:
    return any(e.get("queue") == queue for e in logged(caplog, event))


async def test_a_paused_queue_is_skipped_until_unpaused(
    make_processor: ProcessorFactory,
    distributor: Distributor,
    inspector: Inspector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    p = await make_processor(queues={"a": 1, "b": 1}, concurrency=4)
    ran: list[tuple[str, int]] = []

    @p.handler(Step)
    async def step(task: Step, ctx: TaskContext) -> None:
        ran.append((ctx.queue, task.n))

    await distributor.send(Step(n=0), queue="a")  # the queue exists before it is paused
    caplog.set_level(logging.INFO, logger="tandemq")
    async with p:
        await eventually(lambda: asyncio.sleep(0, ran), lambda r: r == [("a", 0)])
        await inspector.pause("a")
        await eventually(lambda: _logged(caplog, "queue.paused", "a"), bool)
        for n in range(1, 21):
            await distributor.send(Step(n=n), queue="a")
        await distributor.send(Step(n=99), queue="b")
        await eventually(lambda: asyncio.sleep(0, ran), lambda r: ("b", 99) in r)
        stats = await inspector.queue("a")
        assert (stats.pending, stats.paused) == (20, True)
        assert [q for q, _ in ran].count("a") == 1  # none of the 20 ran
        await inspector.unpause("a")
        await eventually(lambda: asyncio.sleep(0, ran), lambda r: len(r) == 22)
    assert (await inspector.queue("a")).pending == 0


async def test_a_queue_paused_before_start_is_never_fetched(
    make_processor: ProcessorFactory, distributor: Distributor, inspector: Inspector
) -> None:
    p = await make_processor(queues={"a": 1, "b": 1})
    ran: list[str] = []

    @p.handler(Step)
    async def step(task: Step, ctx: TaskContext) -> None:
        ran.append(ctx.queue)

    await distributor.send(Step(n=1), queue="a")
    await inspector.pause("a")
    async with p:
        await distributor.send(Step(n=2), queue="b")
        await eventually(lambda: asyncio.sleep(0, ran), lambda r: r == ["b"])
    assert (await inspector.queue("a")).pending == 1


async def test_processed_and_failed_are_counted_per_minute_and_day(
    make_processor: ProcessorFactory, distributor: Distributor, inspector: Inspector
) -> None:
    p = await make_processor(queues={"q": 1})

    @p.handler(Step)
    async def step(task: Step, ctx: TaskContext) -> None:
        if task.fail:
            raise SkipRetry("no")

    for n in range(3):
        await distributor.send(Step(n=n), queue="q")
    await distributor.send(Step(n=9, fail=True), queue="q")
    async with p:
        history = await eventually(
            lambda: inspector.history("q"), lambda h: h.per_minute[-1].processed == 4
        )
    assert history.per_minute[-1].failed == 1
    assert (history.per_day[-1].processed, history.per_day[-1].failed) == (4, 1)
    stats = await inspector.queue("q")
    assert (stats.processed_today, stats.failed_today, stats.archived) == (4, 1, 1)


async def test_a_live_processor_is_listed_with_what_it_runs(
    make_processor: ProcessorFactory, distributor: Distributor, inspector: Inspector
) -> None:
    p = await make_processor(queues={"hi": 3, "lo": 1}, concurrency=5, lease_seconds=3)
    started = asyncio.Event()
    release = asyncio.Event()

    @p.handler(Step)
    async def step(task: Step, ctx: TaskContext) -> None:
        started.set()
        await release.wait()

    async with p:
        info = await distributor.send(Step(n=1), queue="hi")
        await started.wait()
        (listed,) = await eventually(
            inspector.processors, lambda ps: len(ps) == 1 and ps[0].running
        )
        assert listed.id == p.id and listed.pid == os.getpid()
        assert listed.host == socket.gethostname()
        assert listed.queues == {"hi": 3, "lo": 1} and listed.concurrency == 5
        assert listed.busy == 1
        (running,) = listed.running
        assert (running.id, running.queue, running.type) == (
            info.id,
            "hi",
            "tests.inspector.test_processor_side.Step",
        )
        assert listed.last_heartbeat >= listed.started_at
        assert (await inspector.get_task("hi", info.id)).state is TaskState.ACTIVE
        release.set()
    assert await inspector.processors() == []  # a clean shutdown removes it at once


async def test_a_killed_processor_disappears_after_a_few_heartbeats(
    redis_env: dict[str, str], inspector: Inspector, distributor: Distributor
) -> None:
    await distributor.send(Step(n=1), queue="default")  # the queue exists
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tandemq", "run", "tests.apps:ledger",
        cwd=ROOT,
        env=subprocess_env(**redis_env, TANDEMQ_LEASE_SECONDS="3"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        (listed,) = await eventually(inspector.processors, lambda ps: len(ps) == 1, timeout=30)
        assert listed.pid == proc.pid
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        # heartbeat every 1 s (lease 3 s / 3), record kept 3 heartbeats + 1 s
        await eventually(inspector.processors, lambda ps: ps == [], timeout=15, every=0.2)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
