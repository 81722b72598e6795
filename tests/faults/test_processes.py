"""Fault scenarios 1 and 2: processors SIGKILLed at random, and a graceful restart."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tandemq.common.keys import QueueKeys
from tandemq.common.task import Field
from tests.apps import Work
from tests.faults.harness import scenario
from tests.support import eventually


async def _storm(n: int, kills: int, sleep: float) -> None:
    """``sleep`` per task is set so the run outlasts the kills: each one lands mid-run."""
    async with scenario() as (run, client, distributor):
        infos = await distributor.send_many([Work(n=i, sleep=sleep) for i in range(n)])
        ids = {i.id for i in infos}
        env = {"TANDEMQ_LEASE_SECONDS": "1", "TANDEMQ_CONCURRENCY": "50"}
        procs = [run.start_processor(**env) for _ in range(3)]
        rng = random.Random(20261122)
        active_at_kills = landed = 0
        for _ in range(kills):
            await asyncio.sleep(0.5)
            victim = rng.randrange(len(procs))
            procs[victim].send_signal(signal.SIGKILL)
            await asyncio.to_thread(procs[victim].wait, 10)
            # The tasks the victim held at the moment of the kill: the ones this kill can
            # make run twice.
            held = await _leased_by(client, run.queue, procs[victim].pid)
            active_at_kills += held
            landed += held > 0
            procs[victim] = run.start_processor(**env)
            await run.ready(procs[victim])  # the next kill may pick it: it must be running
        await eventually(
            lambda: client.hlen(f"{run.prefix}:ledger"), lambda v: v >= n, timeout=300, every=0.2
        )
        verdict = await run.verdict(client, ids)
        print(
            verdict.line(
                "sigkill-storm", f"{kills} SIGKILLs, {active_at_kills} leased at kill time"
            )
        )
        assert landed >= kills // 2, f"only {landed} of {kills} kills hit a running task"
        assert verdict.lost == []
        assert verdict.duplicated <= active_at_kills
        for proc in procs:
            await run.ready(proc)
            proc.send_signal(signal.SIGTERM)
        assert [await asyncio.to_thread(p.wait, 30) for p in procs] == [0, 0, 0], run.logs()


async def _leased_by(client: Redis, queue: QueueKeys, pid: int) -> int:
    """How many tasks in the active set are leased to the processor with this pid (its id is
    host:pid:random, written into each task hash it holds as the owner field)."""
    ids = [i.decode() for i in await client.zrange(queue.active, 0, -1)]
    owners = [await client.hget(queue.task(i), Field.OWNER) for i in ids]
    return sum(1 for o in owners if o is not None and o.decode().split(":")[1] == str(pid))


async def test_sigkill_storm_loses_nothing() -> None:
    await _storm(n=3_000, kills=6, sleep=0.4)


@pytest.mark.faults
@pytest.mark.timeout(900)
async def test_sigkill_storm_loses_nothing_full() -> None:
    await _storm(n=20_000, kills=30, sleep=0.3)


async def test_graceful_restart_loses_and_duplicates_nothing() -> None:
    async with scenario() as (run, client, distributor):
        infos = await distributor.send_many([Work(n=i, sleep=1.5) for i in range(30)])
        ids = {i.id for i in infos}
        # 60 s leases: anything back in pending right after exit got there by the shutdown.
        env = {
            "TANDEMQ_LEASE_SECONDS": "60",
            "TANDEMQ_CONCURRENCY": "10",
            "TANDEMQ_SHUTDOWN_TIMEOUT_SECONDS": "0.2",
        }
        first = run.start_processor(**env)
        await eventually(
            lambda: client.hlen(f"{run.prefix}:started"), lambda v: v >= 10, timeout=20
        )
        first.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(first.wait, 20) == 0, run.logs()
        assert await client.zcard(run.queue.active) == 0
        assert await client.llen(run.queue.pending) == 30 - await client.hlen(
            f"{run.prefix}:ledger"
        )
        second = run.start_processor(**env)
        await eventually(lambda: client.hlen(f"{run.prefix}:ledger"), lambda v: v >= 30, timeout=60)
        verdict = await run.verdict(client, ids)
        print(verdict.line("graceful-restart", "SIGTERM mid-run"))
        assert verdict.lost == []
        assert verdict.duplicated == 0
        await run.ready(second)
        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, 20) == 0


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_supervised_workers_share_work_restart_after_sigkill_and_stop_cleanly() -> None:
    async with scenario() as (run, client, distributor):
        infos = await distributor.send_many([Work(n=i, sleep=0.02) for i in range(600)])
        ids = {i.id for i in infos}
        supervisor = run.start_processor(
            "ledger", None, "--workers", "2", TANDEMQ_LEASE_SECONDS="1", TANDEMQ_CONCURRENCY="5"
        )
        workers = await eventually(
            lambda: asyncio.to_thread(_children, supervisor.pid), lambda c: len(c) == 2, timeout=20
        )
        await eventually(lambda: client.hlen(f"{run.prefix}:ledger"), lambda v: v >= 50, timeout=30)
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        replaced = await eventually(
            lambda: asyncio.to_thread(_children, supervisor.pid),
            lambda c: len(c) == 2 and victim not in c,
            timeout=20,
        )
        await eventually(
            lambda: client.hlen(f"{run.prefix}:ledger"), lambda v: v >= 600, timeout=60
        )
        verdict = await run.verdict(client, ids)
        print(verdict.line("supervised-workers", "SIGKILL of 1 of 2 workers"))
        assert verdict.lost == []
        supervisor.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(supervisor.wait, 30) == 0, run.logs()
        assert not [pid for pid in replaced if _alive(pid)], "workers outlived the supervisor"
