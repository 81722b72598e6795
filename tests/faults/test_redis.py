"""Fault scenarios 3 and 4: Redis goes away (killed, or its clients cut off), and a network
stall longer than the lease between a processor and Redis."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tandemq.common.settings import Settings
from tandemq.distributor import BrokerUnavailable, Distributor
from tests.apps import Work
from tests.faults.harness import AOF_ALWAYS, scenario
from tests.faults.proxy import StallingProxy
from tests.support import eventually

OUTAGE = 5.0


async def test_redis_killed_for_5s_processors_resume_and_sends_fail_clearly() -> None:
    async with scenario(*AOF_ALWAYS) as (run, client, distributor):
        infos = await distributor.send_many([Work(n=i, sleep=0.01) for i in range(1_000)])
        env = {
            "TANDEMQ_LEASE_SECONDS": "2",
            "TANDEMQ_CONCURRENCY": "20",
            "TANDEMQ_REDIS_TIMEOUT_SECONDS": "1",
        }
        proc = run.start_processor(**env)
        await eventually(
            lambda: client.hlen(f"{run.prefix}:started"), lambda v: v >= 200, timeout=30
        )
        run.server.stop(
            keep_data=True, kill=True
        )  # SIGKILL: AOF always kept every acknowledged write
        down_at = time.monotonic()
        settings = Settings.load(
            env=False,
            redis_url=run.url,
            prefix=run.prefix,
            redis_retries=2,
            redis_timeout_seconds=2,
        )
        refused = Distributor(settings=settings)
        with pytest.raises(BrokerUnavailable):
            await refused.send(Work(n=-1))
        assert time.monotonic() - down_at < 5.0  # bounded: 2 retries with backoff, 2 s timeout
        await refused.close()
        await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))  # the outage itself
        run.server.start()
        later = await distributor.send_many([Work(n=i) for i in range(100)])  # reconnects by itself
        ids = {i.id for i in infos + later}
        await eventually(
            lambda: client.hlen(f"{run.prefix}:ledger"),
            lambda v: v >= len(ids),
            timeout=120,
            every=0.2,
        )
        verdict = await run.verdict(client, ids)
        print(verdict.line("redis-killed", f"Redis SIGKILLed for {OUTAGE:g}s (AOF always)"))
        assert verdict.lost == []
        assert proc.poll() is None, run.logs()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0, run.logs()


async def test_clients_killed_by_redis_reconnect_and_lose_nothing() -> None:
    async with scenario() as (run, client, distributor):
        infos = await distributor.send_many([Work(n=i, sleep=0.005) for i in range(2_000)])
        ids = {i.id for i in infos}
        proc = run.start_processor(TANDEMQ_LEASE_SECONDS="2", TANDEMQ_CONCURRENCY="20")
        for threshold in (300, 800, 1300):
            await eventually(
                lambda t=threshold: client.hlen(f"{run.prefix}:started"),
                lambda v, t=threshold: v >= t,
                timeout=60,
            )
            await client.execute_command("CLIENT", "KILL", "TYPE", "normal")
        await eventually(
            lambda: client.hlen(f"{run.prefix}:ledger"),
            lambda v: v >= len(ids),
            timeout=120,
            every=0.2,
        )
        verdict = await run.verdict(client, ids)
        print(verdict.line("client-kill", "3x CLIENT KILL TYPE normal"))
        assert verdict.lost == []
        assert proc.poll() is None, run.logs()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0, run.logs()


async def test_network_stall_longer_than_the_lease_loses_nothing() -> None:
    async with scenario() as (run, client, distributor):
        infos = await distributor.send_many([Work(n=i, sleep=0.02) for i in range(500)])
        ids = {i.id for i in infos}
        async with StallingProxy(upstream_port=run.server.port) as proxy:
            env = {
                "TANDEMQ_LEASE_SECONDS": "1",
                "TANDEMQ_CONCURRENCY": "20",
                "TANDEMQ_REDIS_TIMEOUT_SECONDS": "1",
            }
            # The processor talks to Redis through the proxy; the ledger goes direct.
            proc = run.start_processor(url=proxy.url, **env)
            second = run.start_processor(**env)  # healthy: recovers the stalled one's leases
            await run.ready(second)
            await eventually(
                lambda: client.hlen(f"{run.prefix}:started"), lambda v: v >= 100, timeout=30
            )
            # Three leases long: meanwhile the second processor takes the stalled one's tasks
            # back and runs them; the stalled one's late acks must then change nothing.
            await proxy.stall(3.0)
            await eventually(
                lambda: client.hlen(f"{run.prefix}:ledger"),
                lambda v: v >= len(ids),
                timeout=120,
                every=0.2,
            )
            verdict = await run.verdict(client, ids)
            print(verdict.line("network-stall", "3 s stall of all traffic, lease 1 s"))
            assert verdict.lost == []
            runs = await run.counts(client, "ledger")
            assert max(runs.values()) <= 3
            assert proc.poll() is None, run.logs()  # neither crashed nor hung
            for p in (proc, second):
                await run.ready(p)
                p.send_signal(signal.SIGTERM)
            assert [await asyncio.to_thread(p.wait, 30) for p in (proc, second)] == [0, 0], (
                run.logs()
            )
