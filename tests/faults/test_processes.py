"""Fault scenarios 1 and 2: processors SIGKILLed at random, and a graceful restart."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from pathlib import Path

import pytest

from tests.apps import Work
from tests.faults.harness import scenario
from tests.support import eventually


async def _storm(n: int, kills: int) -> None:
    async with scenario() as (run, client, distributor):
        infos = await distributor.send_many([Work(n=i, sleep=0.005) for i in range(n)])
        ids = {i.id for i in infos}
        env = {"TANDEMQ_LEASE_SECONDS": "1", "TANDEMQ_CONCURRENCY": "50"}
        procs = [run.start_processor(**env) for _ in range(3)]
        rng = random.Random(20261122)
        active_at_kills = 0
        for _ in range(kills):
            await asyncio.sleep(0.5)
            victim = rng.randrange(len(procs))
            procs[victim].send_signal(signal.SIGKILL)
            await asyncio.to_thread(procs[victim].wait, 10)
            # Every task leased at the moment of the kill, by any processor: an upper bound
            # on the tasks this kill can make run twice.
            active_at_kills += await client.zcard(run.queue.active)
            procs[victim] = run.start_processor(**env)
        await eventually(
            lambda: client.hlen(f"{run.prefix}:ledger"), lambda v: v >= n, timeout=300, every=0.2
        )
        verdict = await run.verdict(client, ids)
        print(
            verdict.line(
                "sigkill-storm", f"{kills} SIGKILLs, {active_at_kills} leased at kill time"
            )
        )
        assert active_at_kills > 0, "no kill landed while tasks were running"
        assert verdict.lost == []
        assert verdict.duplicated <= active_at_kills
        for proc in procs:
            await run.ready(proc)
            proc.send_signal(signal.SIGTERM)
        assert [await asyncio.to_thread(p.wait, 30) for p in procs] == [0, 0, 0], run.logs()


async def test_sigkill_storm_loses_nothing() -> None:
    await _storm(n=3_000, kills=6)


@pytest.mark.faults
async def test_sigkill_storm_loses_nothing_full() -> None:
    await _storm(n=20_000, kills=30)


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
