"""Fault scenario: outbox relays SIGKILLed at random while rows keep being committed
(``-m faults``). Every committed row must become exactly one task: none lost, none twice."""

from __future__ import annotations

import asyncio
import json
import random
import signal
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.outbox.conftest import Database, row_count
from tests.outbox.test_outbox import relay_for, send_rows, start_relay, tasks_in_redis
from tests.support import eventually

pytestmark = pytest.mark.faults


async def test_relays_killed_at_random_leave_exactly_one_task_per_row(
    db: Database, redis_url: str, prefix: str, redis: Redis, tmp_path: Path
) -> None:
    relays_at_once = 2 if db.kind == "postgresql" else 1  # SQLite: one relay (documented)
    args = [*db.cli_args(), "--batch-size", "20", "--poll-interval", "0.05"]
    env = {"REDIS_URL": redis_url, "TANDEMQ_PREFIX": prefix, "OUTBOX_SLOW_SECONDS": "0.03"}
    ids = await send_rows(db, 1000)
    logs = [tmp_path / f"relay-{i}.log" for i in range(relays_at_once)]  # one file per life
    relays = [start_relay("tests.outbox.faulty_relay", args, log, **env) for log in logs]
    rng = random.Random(20261130)
    kills = 40
    for kill in range(kills):
        ids += await send_rows(db, 50)  # the app keeps committing during the storm
        victim = rng.randrange(len(relays))
        await _started(logs[victim])
        await asyncio.sleep(rng.uniform(0.05, 0.4))  # fault injection: a random moment
        relays[victim].send_signal(signal.SIGKILL)
        await asyncio.to_thread(relays[victim].wait, 10)
        logs[victim] = tmp_path / f"relay-{victim}-{kill}.log"
        relays[victim] = start_relay("tests.outbox.faulty_relay", args, logs[victim], **env)
    for relay in relays:
        relay.send_signal(signal.SIGKILL)
        await asyncio.to_thread(relay.wait, 10)
    left = await row_count(db)
    async with relay_for(db, redis_url, prefix, batch_size=200) as final:
        await final.drain()
    in_redis = await tasks_in_redis(redis, prefix)
    # rows a relay wrote to Redis again because a killed one had written them, not deleted them
    lives = sorted(tmp_path.glob("relay-*.log"))  # noqa: ASYNC240 - the test's own files
    resent = final.stats.existed + sum(_existed(log) for log in lives)
    print(
        f"FAULTS outbox-relay-storm[{db.kind}]: rows={len(ids)} kills={kills}"
        f" relays={relays_at_once} resent_after_kill={resent}"
        f" rows_left_for_final_relay={left} tasks={len(in_redis)} distinct={len(set(in_redis))}"
    )
    assert resent > 0  # some kills landed between a Redis write and its delete
    assert sorted(in_redis) == sorted(ids)  # one task per row: none lost, none twice
    assert await row_count(db) == 0


def _existed(log: Path) -> int:
    """Sum of ``existed`` over the relay's ``outbox.relayed`` log lines."""
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return sum(e["existed"] for e in events if e.get("event") == "outbox.relayed")


async def _started(log: Path) -> None:
    """Wait until the relay writing ``log`` has logged its start (it is relaying)."""

    async def started() -> bool:
        return log.exists() and b"outbox.relay_started" in log.read_bytes()  # noqa: ASYNC240

    await eventually(started, bool, timeout=60, every=0.02)
