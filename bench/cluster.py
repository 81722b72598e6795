"""Processed/s on a local Redis Cluster with queues on three shards, against one Redis.

``python -m bench.cluster [--n 20000] [--runs 3]`` starts one redis-server
and a 3-primary/3-replica cluster on loopback (the test suite's cluster,
tests/topologies/cluster.py), and for each target:

- ``send``: 2,000 tasks sent one by one (one awaited round trip each), tasks/s;
- ``send_many``: N no-op tasks sent in bulk, a third to each of three queues (on three
  shards for the cluster), tasks/s;
- ``processed``: one Processor (concurrency 100, all three queues) in this process
  runs them; tasks/s from its start to the last task done.

Targets: ``single`` (one Redis), ``cluster`` (pipelining connection per primary) and
``cluster-redis-py`` (TANDEMQ_WIRE=off: every script call through redis-py's RedisCluster).
On a machine with few cores the Python side, not Redis, sets the rate: the figures compare
the client paths, they do not show what three shards can carry (docs/PERFORMANCE.md does).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from typing import Any

from pydantic import BaseModel

from tandemq.common.cluster import slot_of
from tandemq.common.logging import configure
from tandemq.common.settings import Settings
from tandemq.distributor import Distributor
from tandemq.processor import Processor, TaskContext
from tests.support import RedisServer  # run from the repository root: ``python -m bench...``
from tests.topologies.cluster import Cluster

_SENDS = 2000  # tasks sent one by one before the bulk


class Noop(BaseModel):
    a: int
    b: str


def _queues() -> list[str]:
    """Three queue names on three different thirds of the slot space (three shards)."""
    names: dict[int, str] = {}
    for i in range(1000):
        names.setdefault(slot_of(f"b{i}") * 3 // 16384, f"b{i}")
    return [names[k] for k in sorted(names)]


async def _process(settings: Settings, n: int) -> float:
    """Run the queued tasks in this process; seconds until all ``n`` are done."""
    done, count = asyncio.Event(), [0]
    processor = Processor(settings=settings)

    @processor.handler(Noop)
    async def noop(task: Noop, ctx: TaskContext) -> None:
        count[0] += 1
        if count[0] == n:
            done.set()

    started = time.perf_counter()
    async with processor:
        await asyncio.wait_for(done.wait(), 600)
    return time.perf_counter() - started


async def _one_run(settings: dict[str, Any], n: int) -> tuple[float, float, float]:
    queues = _queues()
    s = Settings.load(
        env=False,
        prefix=f"bc-{uuid.uuid4().hex[:8]}",
        queues={q: 1 for q in queues},
        concurrency=100,
        log_level="WARNING",
        **settings,
    )
    async with Distributor(settings=s) as d:
        started = time.perf_counter()
        for j in range(_SENDS):  # one by one: the cost of a round trip on each path
            await d.send(Noop(a=j, b="x" * 64), queue=queues[j % 3])
        one_by_one = _SENDS / (time.perf_counter() - started)
        started = time.perf_counter()
        for i, q in enumerate(queues):
            await d.send_many([Noop(a=j, b="x" * 64) for j in range(i, n, 3)], queue=q)
        sent = time.perf_counter() - started
    took = await _process(s, n + _SENDS)
    return one_by_one, n / sent, (n + _SENDS) / took


async def _measure(name: str, settings: dict[str, Any], n: int, runs: int) -> None:
    results = [await _one_run(settings, n) for _ in range(runs)]
    send, many, processed = (statistics.median(r[i] for r in results) for i in range(3))
    print(
        f"{name:18} send {send:>7,.0f}/s   send_many {many:>9,.0f}/s"
        f"   processed {processed:>8,.0f}/s"
    )


async def main(args: argparse.Namespace) -> None:
    configure(level="WARNING")
    single, cluster = RedisServer().start(), Cluster().start()
    try:
        await _measure("single", {"redis_url": single.url}, args.n, args.runs)
        await _measure("cluster", cluster.settings(), args.n, args.runs)
        os.environ["TANDEMQ_WIRE"] = "off"
        await _measure("cluster-redis-py", cluster.settings(), args.n, args.runs)
    finally:
        single.stop()
        cluster.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
