"""arq measurements; run with bench/.venvs/arq. arq polls its queue (poll_delay 0.5 s by
default) and that default is kept: it is what an arq user gets."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from arq.worker import Worker

from . import _harness as h


async def noop(ctx: dict[str, Any], n: int, s: str) -> None:
    h.TRACKER.track(n)


async def _pool(url: str) -> ArqRedis:
    return await create_pool(RedisSettings.from_dsn(url))


async def _send_all(pool: ArqRedis, count: int) -> None:
    for i in range(count):
        await pool.enqueue_job("noop", i, h.PAYLOAD)


async def _concurrently(pool: ArqRedis, n: int) -> None:
    await asyncio.gather(*(_send_all(pool, c) for c in h.shares(n, h.CONCURRENT_SENDERS)))


async def enqueue_seq(url: str, n: int) -> h.Result:
    pool = await _pool(url)
    started = time.perf_counter()
    await _send_all(pool, n)
    result = h.rate(n, started)
    await pool.aclose()
    return result


async def enqueue_conc(url: str, n: int) -> h.Result:
    pool = await _pool(url)
    started = time.perf_counter()
    await _concurrently(pool, n)
    result = h.rate(n, started)
    await pool.aclose()
    return result


def _worker(url: str) -> Worker:
    return Worker(
        functions=[noop],
        redis_settings=RedisSettings.from_dsn(url),
        max_jobs=h.CONCURRENCY,
        handle_signals=False,
    )


async def _stop(worker: Worker, task: asyncio.Task[None]) -> None:
    # close() cancels jobs still writing their results; those cancellations are expected.
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    with contextlib.suppress(asyncio.CancelledError):
        await worker.close()


async def process(url: str, n: int) -> h.Result:
    pool = await _pool(url)
    await _concurrently(pool, n)
    await pool.aclose()
    h.TRACKER.reset(n)
    started = time.perf_counter()
    worker = _worker(url)
    task = asyncio.create_task(worker.main())
    await h.TRACKER.wait()
    result = h.rate(n, started)
    await _stop(worker, task)
    return result


async def latency(url: str, n: int) -> h.Result:
    h.TRACKER.reset(n, latency=True)
    worker = _worker(url)
    task = asyncio.create_task(worker.main())
    await asyncio.sleep(h.SETTLE_SECONDS)
    pool = await _pool(url)
    await h.send_spaced(lambda ts: pool.enqueue_job("noop", ts, h.PAYLOAD), n)
    await h.TRACKER.wait()
    await pool.aclose()
    await _stop(worker, task)
    return h.TRACKER.percentiles()


async def memory(url: str, n: int) -> h.Result:
    pool = await _pool(url)
    return await h.amemory_delta(url, lambda: _concurrently(pool, n), n, pool.aclose)


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
