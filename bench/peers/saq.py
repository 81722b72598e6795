"""saq measurements; run with bench/.venvs/saq. saq has no bulk enqueue (``map`` also waits
for the results), so bulk is "-"."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from saq import Queue, Worker

from . import _harness as h


async def noop(ctx: Any, *, n: int, s: str) -> None:
    h.TRACKER.track(n)


async def _queue(url: str) -> Queue:
    # redis-py 8 caps a pool at 100 connections; a worker at concurrency 100 needs a few more.
    queue = Queue.from_url(f"{url}?max_connections=1000")
    await queue.connect()
    return queue


async def _send_all(queue: Queue, count: int) -> None:
    for i in range(count):
        await queue.enqueue("noop", n=i, s=h.PAYLOAD)


async def _concurrently(queue: Queue, n: int) -> None:
    await asyncio.gather(*(_send_all(queue, c) for c in h.shares(n, h.CONCURRENT_SENDERS)))


async def enqueue_seq(url: str, n: int) -> h.Result:
    queue = await _queue(url)
    started = time.perf_counter()
    await _send_all(queue, n)
    result = h.rate(n, started)
    await queue.disconnect()
    return result


async def enqueue_conc(url: str, n: int) -> h.Result:
    queue = await _queue(url)
    started = time.perf_counter()
    await _concurrently(queue, n)
    result = h.rate(n, started)
    await queue.disconnect()
    return result


async def _stop(worker: Worker, task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await worker.stop()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def process(url: str, n: int) -> h.Result:
    queue = await _queue(url)
    await _concurrently(queue, n)
    h.TRACKER.reset(n)
    started = time.perf_counter()
    worker = Worker(queue, functions=[noop], concurrency=h.CONCURRENCY)
    task = asyncio.create_task(worker.start())
    await h.TRACKER.wait()
    result = h.rate(n, started)
    await _stop(worker, task)
    return result


async def latency(url: str, n: int) -> h.Result:
    h.TRACKER.reset(n, latency=True)
    queue = await _queue(url)
    worker = Worker(queue, functions=[noop], concurrency=h.CONCURRENCY)
    task = asyncio.create_task(worker.start())
    await asyncio.sleep(h.SETTLE_SECONDS)
    sender = await _queue(url)
    await h.send_spaced(lambda ts: sender.enqueue("noop", n=ts, s=h.PAYLOAD), n)
    await h.TRACKER.wait()
    await _stop(worker, task)
    return h.TRACKER.percentiles()


async def memory(url: str, n: int) -> h.Result:
    queue = await _queue(url)
    return await h.amemory_delta(url, lambda: _concurrently(queue, n), n, queue.disconnect)


if __name__ == "__main__":
    h.main(
        {
            "enqueue_seq": enqueue_seq,
            "enqueue_conc": enqueue_conc,
            "process": process,
            "latency": latency,
            "memory": memory,
        }
    )
