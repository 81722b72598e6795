"""streaq measurements; run with bench/.venvs/streaq. Bulk is streaq's ``enqueue_many``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from streaq import Worker

from . import _harness as h


def _worker(url: str) -> tuple[Worker, Any]:
    """A worker and its registered no-op task (streaq registers tasks on a worker)."""
    worker = Worker(redis_url=url, concurrency=h.CONCURRENCY, handle_signals=False)

    @worker.task
    async def noop(n: int, s: str) -> None:
        h.TRACKER.track(n)

    return worker, noop


async def _send_all(task: Any, count: int) -> None:
    for i in range(count):
        await task.enqueue(i, h.PAYLOAD)


async def _concurrently(task: Any, n: int) -> None:
    await asyncio.gather(*(_send_all(task, c) for c in h.shares(n, h.CONCURRENT_SENDERS)))


async def enqueue_seq(url: str, n: int) -> h.Result:
    worker, task = _worker(url)
    async with worker:
        started = time.perf_counter()
        await _send_all(task, n)
        return h.rate(n, started)


async def enqueue_conc(url: str, n: int) -> h.Result:
    worker, task = _worker(url)
    async with worker:
        started = time.perf_counter()
        await _concurrently(task, n)
        return h.rate(n, started)


async def enqueue_bulk(url: str, n: int) -> h.Result:
    worker, task = _worker(url)
    async with worker:
        started = time.perf_counter()
        await worker.enqueue_many([task.enqueue(i, h.PAYLOAD) for i in range(n)])
        return h.rate(n, started)


async def _stop(run: asyncio.Task[None]) -> None:
    run.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await run


async def process(url: str, n: int) -> h.Result:
    worker, task = _worker(url)
    async with worker:
        await worker.enqueue_many([task.enqueue(i, h.PAYLOAD) for i in range(n)])
    h.TRACKER.reset(n)
    started = time.perf_counter()
    run = asyncio.create_task(worker.run_async())
    await h.TRACKER.wait()
    result = h.rate(n, started)
    await _stop(run)
    return result


async def latency(url: str, n: int) -> h.Result:
    h.TRACKER.reset(n, latency=True)
    worker, _ = _worker(url)
    run = asyncio.create_task(worker.run_async())
    await asyncio.sleep(h.SETTLE_SECONDS)
    sender, task = _worker(url)  # a client-side instance, as an application would have
    async with sender:
        await h.send_spaced(lambda ts: task.enqueue(ts, h.PAYLOAD), n)
        await h.TRACKER.wait()
    await _stop(run)
    return h.TRACKER.percentiles()


async def memory(url: str, n: int) -> h.Result:
    worker, task = _worker(url)

    async def fill() -> None:
        async with worker:
            await worker.enqueue_many([task.enqueue(i, h.PAYLOAD) for i in range(n)])

    return await h.amemory_delta(url, fill, n)


if __name__ == "__main__":
    h.main(
        {
            "enqueue_seq": enqueue_seq,
            "enqueue_conc": enqueue_conc,
            "enqueue_bulk": enqueue_bulk,
            "process": process,
            "latency": latency,
            "memory": memory,
        }
    )
