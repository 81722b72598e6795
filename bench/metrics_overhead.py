"""The cost of the metrics port on the hot path, as CPU time per task (less sensitive to a busy
machine than processed/s): one processor drains N no-op tasks with TANDEMQ_METRICS_PORT off,
then on, alternately, each on a fresh prefix of one private redis-server.

    .venv/bin/python -m bench.metrics_overhead [N] [PAIRS]     # defaults 50,000 and 6

The processed/s column of ``python -m bench`` is the other measure (docs/OPERATIONS.md, metrics).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time

from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.keys import Keys
from tandemq.common.logging import configure
from tandemq.common.settings import Settings
from tandemq.distributor import Distributor
from tandemq.processor import Processor, TaskContext

from .redis_server import RedisServer

CHUNK = 10_000


class Noop(BaseModel):
    n: int
    s: str


async def _drain(url: str, prefix: str, n: int, metrics: bool) -> tuple[float, float]:
    """(tasks/s, CPU µs per task) of one processor draining ``n`` pre-filled tasks."""
    async with Distributor(redis_url=url, prefix=prefix) as d:
        for start in range(0, n, CHUNK):
            await d.send_many([Noop(n=i, s="x" * 64) for i in range(start, min(start + CHUNK, n))])
    settings = Settings.load(
        env=False,
        redis_url=url,
        prefix=prefix,
        concurrency=100,
        metrics_port=0 if metrics else None,
        metrics_host="127.0.0.1",
    )
    processor = Processor(settings=settings)

    @processor.handler(Noop)
    async def noop(task: Noop, ctx: TaskContext) -> None:
        return None

    keys = Keys(prefix).queue("default")
    async with Redis.from_url(url) as redis:
        await processor.start()
        wall, cpu = time.perf_counter(), time.process_time()
        # Redis state has no event to wait on: poll it (cheap next to the work measured).
        while await redis.llen(keys.pending) or await redis.zcard(keys.active):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        await processor.shutdown()
    return n / wall, cpu / n * 1e6


async def main(n: int, pairs: int) -> None:
    configure("json", "WARNING")
    results: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    with RedisServer() as server:
        for i in range(pairs):
            for metrics in (False, True):
                rate, cpu = await _drain(server.url, f"overhead{i}{int(metrics)}", n, metrics)
                results[metrics].append((rate, cpu))
                label = "on " if metrics else "off"
                load = os.getloadavg()[0]
                print(f"pair {i} metrics {label} {rate:9,.0f}/s {cpu:5.1f} µs/task load {load:.2f}")
    for metrics, rows in results.items():
        rates, cpus = [r for r, _ in rows], [c for _, c in rows]
        print(
            f"metrics {'on ' if metrics else 'off'}: {statistics.median(rates):,.0f}/s median "
            f"({min(rates):,.0f}-{max(rates):,.0f}); {statistics.median(cpus):.2f} µs/task "
            f"median (min {min(cpus):.2f})"
        )
    diffs = [on[1] - off[1] for off, on in zip(results[False], results[True], strict=True)]
    print(f"paired CPU difference on-off: median {statistics.median(diffs):+.2f} µs/task")


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    asyncio.run(main(count, rounds))
