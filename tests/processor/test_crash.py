"""Semantics 2 and 6 with real processes: SIGKILL loses nothing; SIGTERM gives back at once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from redis.asyncio import Redis

from tandemq.common.envelope import entry_id
from tandemq.common.keys import Keys
from tandemq.distributor import Distributor
from tests.apps import SyncHang, Work
from tests.support import eventually, subprocess_env

ROOT = Path(__file__).resolve().parents[2]


def _start(
    redis_url: str, prefix: str, app: str = "tests.apps:ledger", **env: str
) -> subprocess.Popen[bytes]:
    settings = {
        "REDIS_URL": redis_url,
        "TANDEMQ_PREFIX": prefix,
        "TANDEMQ_LOG_LEVEL": "WARNING",
        "TANDEMQ_LOG_FORMAT": "json",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tandemq", app],
        cwd=ROOT,
        env=subprocess_env(**settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def _hlen(redis: Redis, key: str) -> int:
    return int(await redis.hlen(key))


async def test_no_task_lost_when_processors_are_sigkilled(
    redis: Redis, redis_url: str, prefix: str, distributor: Distributor
) -> None:
    n = 600
    infos = await distributor.send_many([Work(n=i, sleep=0.02) for i in range(n)])
    ids = {info.id for info in infos}
    queue = Keys(prefix).queue("default")
    active_at_kill = 0
    env = {"TANDEMQ_LEASE_SECONDS": "1", "TANDEMQ_CONCURRENCY": "20"}
    for round_ in range(3):  # kill at three different points of the run
        proc = _start(redis_url, prefix, **env)
        target = (round_ + 1) * 100
        await eventually(
            lambda: _hlen(redis, f"{prefix}:started"), lambda v, t=target: v >= t, timeout=30
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        leased = await redis.zcard(queue.active)
        assert leased > 0, "the kill should land while tasks are running"
        active_at_kill += leased
    survivor = _start(redis_url, prefix, **env)
    try:
        await eventually(lambda: _hlen(redis, f"{prefix}:ledger"), lambda v: v >= n, timeout=60)
        runs = {k.decode(): int(v) for k, v in (await redis.hgetall(f"{prefix}:ledger")).items()}
        assert set(runs) == ids  # none lost
        duplicates = sum(r - 1 for r in runs.values())
        assert duplicates <= active_at_kill
        await eventually(lambda: redis.zcard(queue.active), lambda v: v == 0, timeout=10)
        assert await redis.llen(queue.pending) == 0
    finally:
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(20) == 0


async def test_sigterm_finishes_short_tasks_and_gives_back_long_ones_at_once(
    redis: Redis, redis_url: str, prefix: str, distributor: Distributor
) -> None:
    short = [await distributor.send(Work(n=i, sleep=0.3)) for i in range(2)]
    long = [await distributor.send(Work(n=i, sleep=60)) for i in range(3)]
    waiting = [await distributor.send(Work(n=i, sleep=60)) for i in range(4)]
    queue = Keys(prefix).queue("default")
    # A 60 s lease: whatever is back in pending right after exit got there by shutdown, not expiry.
    proc = _start(
        redis_url,
        prefix,
        TANDEMQ_CONCURRENCY="5",
        TANDEMQ_LEASE_SECONDS="60",
        TANDEMQ_SHUTDOWN_TIMEOUT_SECONDS="3",
    )
    await eventually(lambda: _hlen(redis, f"{prefix}:started"), lambda v: v >= 5, timeout=20)
    proc.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(proc.wait, 30)
    assert code == 0, proc.stderr.read().decode() if proc.stderr else ""
    done = {k.decode() for k in await redis.hkeys(f"{prefix}:ledger")}
    assert done == {t.id for t in short}
    assert await redis.zcard(queue.active) == 0
    pending = {entry_id(e) for e in await redis.lrange(queue.pending, 0, -1)}  # (envelopes)
    assert pending == {t.id for t in long + waiting}
    for task in long:
        info = await distributor.get_task(task.id)
        assert info is not None
        assert info.state == "pending"
        assert info.retried == 0  # giving back is not a failed attempt


async def test_sigterm_exits_even_while_a_sync_handler_hangs_in_its_thread(
    redis_url: str, prefix: str, distributor: Distributor
) -> None:
    """A plain def handler past its timeout keeps its thread (threads cannot be cancelled);
    Python would wait for that thread at exit, so the daemon would outlive SIGTERM by as long
    as the handler runs. It exits 0 instead, the task already failed and kept for retry."""
    proc = _start(redis_url, prefix, app="tests.apps:hostile")
    try:
        info = await distributor.send(
            SyncHang(seconds=600), timeout=timedelta(seconds=0.5), max_retry=3
        )
        await eventually(
            lambda: distributor.get_task(info.id),
            lambda i: i is not None and i.state == "retry",
            timeout=30,
        )
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0
