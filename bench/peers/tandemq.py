"""tandemq measurements; run with the repo's own venv."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from datetime import timedelta
from typing import ClassVar

from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.keys import Keys
from tandemq.common.logging import configure
from tandemq.common.settings import Settings
from tandemq.distributor import Distributor
from tandemq.processor import Processor, TaskContext

from . import _harness as h

PREFIX = "bench"
QUEUE = "default"
CHUNK = 10_000  # send_many batch: bounds client memory while filling big backlogs


class Noop(BaseModel):
    # A stable wire name, as the README recommends (and as short as the peers' "noop"):
    # the default, module.QualName, would name this module.
    tandemq_type: ClassVar[str] = "noop"
    n: int
    s: str


def _distributor(url: str) -> Distributor:
    return Distributor(redis_url=url, prefix=PREFIX)


def _processor(url: str) -> Processor:
    # TANDEMQ_METRICS_PORT=0 measures with the ops port on (docs/OPERATIONS.md, metrics: on vs off);
    # other TANDEMQ_* settings apply too (TANDEMQ_BLOCKING_TAKE=false for an A/B)
    metrics_port = os.environ.get("TANDEMQ_METRICS_PORT")
    settings = Settings.load(
        redis_url=url,
        prefix=PREFIX,
        queues={QUEUE: 1},
        concurrency=h.CONCURRENCY,
        metrics_port=int(metrics_port) if metrics_port else None,
    )
    processor = Processor(settings=settings)

    @processor.handler(Noop)
    async def noop(payload: Noop, ctx: TaskContext) -> None:
        h.TRACKER.track(payload.n)

    return processor


async def _fill(url: str, count: int, process_in: timedelta | None = None) -> None:
    async with _distributor(url) as d:
        for start in range(0, count, CHUNK):
            batch = [Noop(n=i, s=h.PAYLOAD) for i in range(start, min(start + CHUNK, count))]
            await d.send_many(batch, queue=QUEUE, process_in=process_in)


async def _wait_drained(url: str) -> None:
    """Until nothing is pending or held: every task's outcome is written, not only run."""
    keys = Keys(PREFIX).queue(QUEUE)
    async with Redis.from_url(url) as redis:
        # Redis state has no event to wait on: poll it (cheap next to the work measured).
        while await redis.llen(keys.pending) or await redis.zcard(keys.active):  # noqa: ASYNC110
            await asyncio.sleep(0.002)


async def enqueue_seq(url: str, n: int) -> h.Result:
    async with _distributor(url) as d:
        started = time.perf_counter()
        for i in range(n):
            await d.send(Noop(n=i, s=h.PAYLOAD), queue=QUEUE)
        return h.rate(n, started)


async def enqueue_conc(url: str, n: int) -> h.Result:
    async with _distributor(url) as d:

        async def sender(count: int) -> None:
            for i in range(count):
                await d.send(Noop(n=i, s=h.PAYLOAD), queue=QUEUE)

        started = time.perf_counter()
        await asyncio.gather(*(sender(c) for c in h.shares(n, h.CONCURRENT_SENDERS)))
        return h.rate(n, started)


async def enqueue_bulk(url: str, n: int) -> h.Result:
    async with _distributor(url) as d:
        started = time.perf_counter()
        await d.send_many([Noop(n=i, s=h.PAYLOAD) for i in range(n)], queue=QUEUE)
        return h.rate(n, started)


async def process(url: str, n: int) -> h.Result:
    await _fill(url, n)
    h.TRACKER.reset(n)
    processor = _processor(url)
    started = time.perf_counter()
    await processor.start()
    await h.TRACKER.wait()
    await _wait_drained(url)
    result = h.rate(n, started)
    await processor.shutdown()
    return result


async def process2(url: str, n: int) -> h.Result:
    """Two worker processes (``worker`` below) drain one pre-filled queue."""
    await _fill(url, n)
    cmd = ["-m", __spec__.name, "worker", "--url", url, "--n", "0"]
    pipe = asyncio.subprocess.PIPE
    workers = [
        await asyncio.create_subprocess_exec(sys.executable, *cmd, stdin=pipe, stdout=pipe)
        for _ in range(2)
    ]
    try:
        for w in workers:  # wait until both imported and built their processor
            assert w.stdout is not None
            await w.stdout.readline()
        started = time.perf_counter()
        for w in workers:
            assert w.stdin is not None
            w.stdin.write(b"go\n")
            await w.stdin.drain()
        await _wait_drained(url)
        return h.rate(n, started)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
            await w.wait()


async def worker(url: str, n: int) -> h.Result:
    """Child of process2: says ready, waits for "go", then serves until SIGTERM."""
    processor = _processor(url)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await processor.run()
    return {"value": None}


async def latency(url: str, n: int) -> h.Result:
    h.TRACKER.reset(n, latency=True)
    processor = _processor(url)
    await processor.start()
    await asyncio.sleep(h.SETTLE_SECONDS)
    async with _distributor(url) as d:
        await h.send_spaced(lambda ts: d.send(Noop(n=ts, s=h.PAYLOAD), queue=QUEUE), n)
        await h.TRACKER.wait()
    await processor.shutdown()
    return h.TRACKER.percentiles()


async def memory(url: str, n: int) -> h.Result:
    async with _distributor(url):  # loads the scripts before the baseline reading
        return await h.amemory_delta(url, lambda: _fill(url, n), n)


async def _backlog_rate(url: str, window: int, pending: int, scheduled: int) -> h.Result:
    """Rate of running the first ``window`` of ``pending`` tasks, next to ``scheduled`` ones
    due in 30 days (never run here). Counted at handler end, the same for every backlog."""
    await _fill(url, scheduled, process_in=timedelta(days=30))
    await _fill(url, pending)
    h.TRACKER.reset(window)
    processor = _processor(url)
    started = time.perf_counter()
    await processor.start()
    await h.TRACKER.wait()
    result = h.rate(window, started)
    await processor.shutdown()
    return result


async def scale_base(url: str, n: int) -> h.Result:
    return await _backlog_rate(url, n, n, 0)


async def scale_1m(url: str, n: int) -> h.Result:
    return await _backlog_rate(url, n, h.SCALE_BACKLOG, 0)


async def scale_sched(url: str, n: int) -> h.Result:
    return await _backlog_rate(url, n, n, h.SCALE_SCHEDULED)


if __name__ == "__main__":
    configure("console", "WARNING")
    h.main(
        {
            "enqueue_seq": enqueue_seq,
            "enqueue_conc": enqueue_conc,
            "enqueue_bulk": enqueue_bulk,
            "process": process,
            "process2": process2,
            "worker": worker,
            "latency": latency,
            "memory": memory,
            "scale_base": scale_base,
            "scale_1m": scale_1m,
            "scale_sched": scale_sched,
        }
    )
