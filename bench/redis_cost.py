"""Redis CPU per task: what one task costs the Redis server, for send, fetch and ack.

``python -m bench.redis_cost [--n 20000]`` starts a private redis-server (bench/redis_server.py,
pinned to core 0), and for each step resets Redis's counters (CONFIG RESETSTAT), runs the step
for N tasks, and reads back:

- CPU: ``used_cpu_user + used_cpu_sys`` from INFO cpu, the whole server process (command
  execution, the socket reads and writes, the event loop), divided by N: the figure that
  sets how many tasks one Redis core carries;
- scripts: ``usec`` of ``cmdstat_evalsha`` from INFO commandstats (the time inside the Lua
  scripts), divided by N. Redis times commands by the wall clock, so on a shared machine this
  also counts the moments Redis was not on a core; it can exceed the CPU figure. The CPU
  figure is the one to plan with.

Steps: ``send`` (Distributor.send, one round trip per task), ``send_many`` (chunks of 1,000
tasks per script call), ``fetch`` (Broker.dequeue, 100 tasks per call: a processor with 100
free slots), ``ack`` (Broker.ack, 100 ids per call), and ``processor`` (a whole Processor,
concurrency 100, running N queued no-op tasks: fetch, ack, heartbeats, wake-ups, all of it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.keys import Keys
from tandemq.common.logging import configure
from tandemq.common.settings import Settings
from tandemq.distributor import Distributor
from tandemq.processor import Processor, TaskContext

from .redis_server import RedisServer

BATCH = 100
LEASE_MS = 60_000


class Noop(BaseModel):
    a: int
    b: str


def _payload(i: int) -> Noop:
    return Noop(a=i, b="x" * 64)


async def _counters(redis: Redis) -> tuple[float, float]:
    """(CPU seconds of the server, microseconds inside EVALSHA) since the last reset."""
    cpu = await redis.info("cpu")
    stats = await redis.info("commandstats")
    evalsha = stats.get("cmdstat_evalsha", {}).get("usec", 0)
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]), float(evalsha)


async def _measured(redis: Redis, n: int, step: Any) -> dict[str, float]:
    await redis.config_resetstat()
    cpu0, _ = await _counters(redis)
    started = time.perf_counter()
    await step()
    elapsed = time.perf_counter() - started
    cpu1, script_us = await _counters(redis)
    return {
        "cpu_us_per_task": (cpu1 - cpu0) * 1e6 / n,
        "script_us_per_task": script_us / n,
        "tasks_per_s_seen": n / elapsed,
    }


async def measure(url: str, n: int) -> dict[str, dict[str, float]]:
    redis = Redis.from_url(url)
    settings = Settings.load(env=False, redis_url=url, prefix="cost")
    keys = Keys("cost")
    broker = Broker(redis, keys)
    await broker.load_scripts()
    results: dict[str, dict[str, float]] = {}
    async with Distributor(settings=settings) as distributor:

        async def send() -> None:
            for i in range(n):
                await distributor.send(_payload(i))

        async def send_many() -> None:
            await distributor.send_many([_payload(i) for i in range(n)])

        async def fetch() -> None:
            left = n
            while left:
                taken, _ = await broker.dequeue({"default": min(BATCH, left)}, "bench", LEASE_MS)
                held[:0] = [t.id for t in taken.get("default", [])]
                left -= len(taken.get("default", []))

        async def ack() -> None:
            for start in range(0, len(held), BATCH):
                await broker.ack("bench", {"default": held[start : start + BATCH]})

        held: list[str] = []
        results["send"] = await _measured(redis, n, send)
        await redis.delete(*[k async for k in redis.scan_iter("cost:*")])
        results["send_many"] = await _measured(redis, n, send_many)
        results["fetch"] = await _measured(redis, n, fetch)
        results["ack"] = await _measured(redis, n, ack)
        await distributor.send_many([_payload(i) for i in range(n)])
    results["processor"] = await _measured(redis, n, lambda: _process(settings, n))
    await broker.aclose()
    await redis.aclose()
    return results


async def _process(settings: Settings, n: int) -> None:
    done = asyncio.Event()
    count = 0
    processor = Processor(settings=settings.model_copy(update={"concurrency": 100}))

    @processor.handler(Noop)
    async def noop(task: Noop, ctx: TaskContext) -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set()

    async with processor:
        await done.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3, help="the median of this many runs")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    configure("console", "WARNING")  # a log line per task would be the client's cost, not Redis's
    runs = []
    with RedisServer() as server:
        for _ in range(args.runs):
            server.flush()  # the private server of this run, nothing else
            runs.append(asyncio.run(measure(server.url, args.n)))
        version = server.version()
    results = {
        step: {k: statistics.median(r[step][k] for r in runs) for k in runs[0][step]}
        for step in runs[0]
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"Redis {version}, n={args.n}, median of {args.runs} runs: Redis CPU per task")
    print(f"{'step':<10} {'CPU us/task':>12} {'script us/task':>15} {'tasks/s seen':>13}")
    for step, r in results.items():
        print(
            f"{step:<10} {r['cpu_us_per_task']:>12.1f} {r['script_us_per_task']:>15.1f}"
            f" {r['tasks_per_s_seen']:>13,.0f}"
        )


if __name__ == "__main__":
    main()
