"""SIGKILL storms over list and stream intake: items a producer that knows nothing of tandemq
pushes while the consuming processors are killed at random. Every item must run; the intake
itself must create no task twice (its moves are atomic), and task-level re-runs are counted
apart (a handler killed before its ack runs again: at-least-once)."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tandemq.common.keys import intake_keys
from tests.faults.harness import ROOT, Scenario, scenario
from tests.support import eventually, subprocess_env

Push = Callable[[Redis, str, list[str]], Awaitable[object]]


def _start(run: Scenario, app: str, key: str) -> subprocess.Popen[bytes]:
    """Like Scenario.start_processor, for an app of tests/intake_apps.py."""
    env = subprocess_env(
        REDIS_URL=run.url,
        TANDEMQ_PREFIX=run.prefix,
        TANDEMQ_LOG_LEVEL="INFO",
        TANDEMQ_LOG_FORMAT="json",
        TANDEMQ_LEASE_SECONDS="1",
        TANDEMQ_CONCURRENCY="50",
        INTAKE_KEY=key,
        INTAKE_PARSE_SECONDS="0.002",  # a batch of 100 takes 0.2 s: kills land mid-intake
    )
    log = open(run._log_path(len(run.procs)), "wb")  # noqa: SIM115
    cmd = [sys.executable, "-m", "tandemq", f"tests.intake_apps:{app}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    run.procs.append(proc)
    return proc


async def _produce(
    client: Redis, key: str, push: Push, n: int, pace: float, stop: asyncio.Event
) -> int:
    """Chunks of 100 items, one every ``pace`` seconds, until at least ``n`` are out and
    ``stop`` is set; returns how many went out."""
    c = 0
    while c * 100 < n or not stop.is_set():
        await push(client, key, [str(c * 100 + i) for i in range(100)])
        c += 1
        await asyncio.sleep(pace)
    return c * 100


def _recovered(run: Scenario) -> int:
    """Items the survivors took back from killed consumers (intake.recovered log events)."""
    total = 0
    for path in Path(run.server.dir).glob("processor-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if '"intake.recovered"' in line:
                total += int(json.loads(line)["items"])
    return total


async def _storm(app: str, key: str, push: Push, n: int, kills: int, landing: int = 0) -> None:
    """``landing``: how many kills at least must hit a consumer holding items (the short
    CI runs leave it to chance; tests/processor/test_intake_*.py kill inside parse for sure).
    Past ``kills``, the storm goes on (items still coming) until that many landed, up to
    three times ``kills``: on a loaded machine restarts are slower and fewer kills land."""
    async with scenario() as (run, client, _):
        procs = [_start(run, app, key) for _ in range(3)]
        for proc in procs:
            await run.ready(proc)
        began = time.monotonic()
        stop = asyncio.Event()
        pace = kills * 0.9 / (n // 100)  # n items over about kills * 0.9 seconds
        producer = asyncio.create_task(_produce(client, key, push, n, pace, stop))
        rng = random.Random(20261130)
        held_at_kills = landed = done = 0
        while done < kills or (landed < landing and done < 3 * kills):
            done += 1
            await asyncio.sleep(0.5)
            victim = rng.randrange(len(procs))
            procs[victim].send_signal(signal.SIGKILL)
            await asyncio.to_thread(procs[victim].wait, 10)
            held = await _held_by(client, run.prefix, key, procs[victim].pid)
            held_at_kills += held
            landed += held > 0
            procs[victim] = _start(run, app, key)
            await run.ready(procs[victim])
        stop.set()
        n = await producer
        ledger = f"{run.prefix}:ledger"
        await eventually(lambda: client.hlen(ledger), lambda v: v >= n, timeout=300, every=0.2)
        elapsed = time.monotonic() - began
        runs = {k.decode(): int(v) for k, v in (await client.hgetall(ledger)).items()}
        tasks = Counter(v.decode() for v in (await client.hgetall(f"{ledger}:ids")).values())
        lost = [str(i) for i in range(n) if str(i) not in runs]
        intake_dups = sum(v - 1 for v in tasks.values())
        rerun = sum(v - 1 for v in runs.values())
        print(
            f"FAULTS intake-{app}-storm: n={n} kills={done} lost={len(lost)}"
            f" duplicated_tasks={intake_dups} handler_reruns={rerun}"
            f" kills_holding_items={landed} items_held_at_kills={held_at_kills}"
            f" items_recovered={_recovered(run)} seconds={elapsed:.1f}"
        )
        assert landed >= landing, f"only {landed} of {done} kills hit a consumer holding items"
        assert lost == []
        assert intake_dups == 0
        assert await client.zcard(run.queue.archived) == 0  # no item rejected or mangled
        if app == "list_consumer":
            keys = intake_keys(run.prefix, key)
            assert await client.llen(key) == 0
            left = [k async for k in client.scan_iter(match=keys.processing_prefix + "*")]
            assert left == []
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        assert [await asyncio.to_thread(p.wait, 30) for p in procs] == [0, 0, 0], run.logs()


async def _held_by(client: Redis, prefix: str, key: str, pid: int) -> int:
    """Items taken but not yet tasks by the consumer with this pid (its id is
    host:pid:random): its processing list's length, or its pending entries in the group."""
    if await client.type(key) == b"stream":
        consumers = await client.xinfo_consumers(key, "tandemq")
        mine = [c for c in consumers if c["name"].decode().split(":")[1] == str(pid)]
        return sum(int(c["pending"]) for c in mine)
    processing = intake_keys(prefix, key).processing_prefix
    lists = [k async for k in client.scan_iter(match=f"{processing}*:{pid}:*")]
    return sum([await client.llen(k) for k in lists])


async def _lpush(client: Redis, key: str, lines: list[str]) -> object:
    return await client.lpush(key, *lines)


async def _xadd(client: Redis, key: str, lines: list[str]) -> object:
    pipe = client.pipeline(transaction=False)
    for line in lines:
        pipe.xadd(key, {"n": line})
    return await pipe.execute()


async def test_list_intake_storm_short() -> None:
    await _storm("list_consumer", "jobs", _lpush, n=2_000, kills=3)


async def test_stream_intake_storm_short() -> None:
    await _storm("stream_consumer", "events", _xadd, n=2_000, kills=3)


@pytest.mark.faults
@pytest.mark.timeout(900)
async def test_list_intake_sigkill_storm() -> None:
    await _storm("list_consumer", "jobs", _lpush, n=10_000, kills=20, landing=5)


@pytest.mark.faults
@pytest.mark.timeout(900)
async def test_stream_intake_sigkill_storm() -> None:
    await _storm("stream_consumer", "events", _xadd, n=10_000, kills=20, landing=5)
