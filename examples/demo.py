"""tandemq demo: a processor on weighted queues and a distributor sending a mix of tasks.

    python examples/demo.py [--tasks 40] [--quiet]

Uses REDIS_URL, else a Redis on localhost:6379, else starts redis-server (or the bundled
valkey-server) on a free port for the run. Everything is written under a fresh key prefix that
is deleted at the end. Exit code 0 when every task ended as expected.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from pydantic import BaseModel

from examples import tasks
from examples.devredis import NoRedis, dev_redis
from tandemq.common.logging import configure
from tandemq.common.redact import redact_url
from tandemq.distributor import Distributor, TaskInfo
from tandemq.processor import Processor

QUEUES = {"critical": 6, "default": 3, "low": 1}
FINAL = ("completed", "archived")


class Planned:
    """One task to send, and the state it should end in."""

    def __init__(self, payload: BaseModel, expect: str, **options: Any) -> None:
        self.payload, self.expect, self.options = payload, expect, options
        self.info: TaskInfo | None = None


def plan(count: int, rng: random.Random) -> list[Planned]:
    """A repeatable mix: mostly successes, some flaky, some failing for good, some delayed."""
    kinds = [
        lambda i: Planned(tasks.SendWelcomeEmail(username=f"user{i}"), "completed",
                          queue="critical"),
        lambda i: Planned(tasks.SendWelcomeEmail(username=f"late{i}"), "completed",
                          queue="critical", process_in=timedelta(seconds=2)),
        lambda i: Planned(tasks.ResizeImage(path=f"/img/{i}.png", width=320), "completed"),
        lambda i: Planned(tasks.ChargeCard(order_id=i, flaky_attempts=rng.randint(1, 2)),
                          "completed", max_retry=3),
        lambda i: Planned(tasks.SyncInventory(sku=f"SKU-{i}"), "archived", queue="low",
                          max_retry=2),
        lambda i: Planned(tasks.ApplyCoupon(code=f"C{i}", expired=True), "archived",
                          queue="low"),
        lambda i: Planned(tasks.BuildReport(seconds=5), "archived", queue="low", max_retry=1,
                          timeout=timedelta(milliseconds=300)),
        lambda i: Planned(tasks.ResizeImage(path=f"/img/{i}.jpg", width=64), "completed",
                          queue="low", process_in=timedelta(seconds=1)),
    ]  # fmt: skip
    return [kinds[i % len(kinds)](i) for i in range(count)]


async def send_all(d: Distributor, planned: list[Planned]) -> None:
    for p in planned:
        # retention keeps finished tasks readable, so the summary can show "completed"
        p.info = await d.send(p.payload, retention=timedelta(minutes=5), **p.options)


async def wait_final(d: Distributor, planned: list[Planned], limit: float) -> None:
    deadline = time.monotonic() + limit
    pending = list(planned)
    while pending and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        still = []
        for p in pending:
            assert p.info is not None
            info = await d.get_task(p.info.id, queue=p.info.queue)
            p.info = info or p.info
            if info is None or info.state not in FINAL:
                still.append(p)
        pending = still


def summary(planned: list[Planned]) -> bool:
    """Print a table of type x final state; True when every task ended as expected."""
    rows = Counter((p.info.type, p.info.queue, p.info.state, p.expect) for p in planned if p.info)
    print(f"\n{'type':<28} {'queue':<9} {'state':<10} {'expected':<10} {'tasks':>5}")
    for (kind, queue, state, expect), n in sorted(rows.items()):
        print(f"{kind:<28} {queue:<9} {state:<10} {expect:<10} {n:>5}")
    for p in planned:
        if p.info and p.info.state == "archived" and p.info.last_error:
            last = p.info.last_error.strip().splitlines()[-1]
            print(f"  e.g. archived {p.info.type}: {last} (after {p.info.retried} retries)")
            break
    wrong = [p for p in planned if not p.info or p.info.state != p.expect]
    print(f"\ndemo: {len(planned)} sent, {len(planned) - len(wrong)} as expected, "
          f"{len(wrong)} not")  # fmt: skip
    return not wrong


async def cleanup(d: Distributor, prefix: str) -> None:
    keys = [k async for k in d.redis.scan_iter(match=f"{prefix}:*", count=1000)]
    for start in range(0, len(keys), 1000):
        await d.redis.delete(*keys[start : start + 1000])


async def run_demo(url: str, count: int, limit: float) -> bool:
    prefix = f"demo-{uuid.uuid4().hex[:8]}"
    processor = tasks.register(
        Processor(
            redis_url=url,
            prefix=prefix,
            queues=QUEUES,
            concurrency=8,
            retry_delay=tasks.demo_retry_delay,
        )
    )
    async with Distributor(redis_url=url, prefix=prefix) as d:
        await processor.start()
        try:
            planned = plan(count, random.Random(7))
            await send_all(d, planned)
            await wait_final(d, planned, limit)
        finally:
            await processor.shutdown()
            ok = summary(planned)
            await cleanup(d, prefix)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=40, help="how many tasks to send")
    parser.add_argument("--quiet", action="store_true", help="only warnings and the summary")
    parser.add_argument("--limit", type=float, default=30.0, help="seconds to wait for all")
    args = parser.parse_args()
    fmt = os.environ.get("TANDEMQ_LOG_FORMAT", "console")
    configure("json" if fmt == "json" else "console", "WARNING" if args.quiet else "INFO")
    try:
        with dev_redis() as (url, where):
            print(f"demo: Redis {redact_url(url)} ({where}); queues {QUEUES}")
            ok = asyncio.run(run_demo(url, args.tasks, args.limit))
    except NoRedis as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
