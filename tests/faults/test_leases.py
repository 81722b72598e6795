"""Issue 10, item 2: a lease must not outlive or outrun its handler.

A handler that blocks the event loop past the lease keeps its lease (renewed from a thread), so
the task runs once; a processor that learns its lease is gone cancels the handler instead of
letting it finish a run that now also happens elsewhere."""

from __future__ import annotations

import asyncio
import signal

from redis.asyncio import Redis

from tandemq.common.keys import QueueKeys
from tests.apps import BlockThenWait, Work
from tests.faults.harness import scenario
from tests.faults.proxy import StallingProxy
from tests.support import eventually


async def test_loop_blocked_past_the_lease_runs_the_task_once() -> None:
    async with scenario() as (run, client, distributor):
        env = {"TANDEMQ_LEASE_SECONDS": "3"}
        procs = [run.start_processor("blocking", **env) for _ in range(2)]
        for proc in procs:
            await run.ready(proc)
        info = await distributor.send(BlockThenWait(block=5, wait=5), max_retry=25)
        await eventually(
            lambda: client.hlen(f"{run.prefix}:ledger"), lambda v: v >= 1, timeout=60, every=0.1
        )
        starts = await run.counts(client, "started")
        print(
            f"FAULTS loop-blocked: n=1 injected='5 s time.sleep in async def, lease 3 s, 2 processors' starts={starts[info.id]}"
        )
        assert starts == {info.id: 1}, run.logs()
        logs = run.logs()
        assert '"loop.blocked"' in logs and info.id in logs
        assert '"loop.leases_renewed"' in logs
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        assert [await asyncio.to_thread(p.wait, 30) for p in procs] == [0, 0], run.logs()


async def test_a_lost_lease_cancels_the_handler() -> None:
    async with (
        scenario() as (run, client, distributor),
        StallingProxy(upstream_port=run.server.port) as proxy,
    ):
        env = {
            "TANDEMQ_LEASE_SECONDS": "1",
            "TANDEMQ_CONCURRENCY": "10",
            "TANDEMQ_REDIS_TIMEOUT_SECONDS": "1",
        }
        stalled = run.start_processor(url=proxy.url, **env)  # the ledger goes direct
        await run.ready(stalled)
        infos = await distributor.send_many([Work(n=i, sleep=8) for i in range(10)])
        ids = {i.id for i in infos}
        await eventually(
            lambda: client.hlen(f"{run.prefix}:started"), lambda v: v >= 10, timeout=30
        )
        healthy = run.start_processor(**env)
        await run.ready(healthy)
        # Three leases: the healthy processor takes the stalled one's tasks back and runs
        # them; the stalled one learns its leases are gone once the link is back.
        await proxy.stall(3.0)
        await eventually(lambda: client.hlen(f"{run.prefix}:ledger"), lambda v: v >= 10, timeout=60)
        await eventually(lambda: _unfinished(client, run.queue), lambda n: n == 0, timeout=60)
        verdict = await run.verdict(client, ids)
        print(verdict.line("lease-lost-cancel", "3 s stall, lease 1 s, 10 tasks of 8 s"))
        assert verdict.lost == []
        assert verdict.duplicated == 0, run.logs()
        assert '"task.cancelled"' in run.logs()
        for proc in (stalled, healthy):
            proc.send_signal(signal.SIGTERM)
        assert [await asyncio.to_thread(p.wait, 30) for p in (stalled, healthy)] == [0, 0]


async def _unfinished(client: Redis, queue: QueueKeys) -> int:
    """Tasks not yet done: pending, leased, or waiting to retry."""
    pipe = client.pipeline()
    pipe.llen(queue.pending).zcard(queue.active).zcard(queue.retry)
    return int(sum(await pipe.execute()))


async def test_a_loop_blocked_past_the_bound_stops_renewing_so_the_task_runs_elsewhere() -> None:
    async with scenario() as (run, client, distributor):
        env = {"TANDEMQ_LEASE_SECONDS": "1", "TANDEMQ_MAX_LOOP_BLOCK_SECONDS": "2"}
        blocked = run.start_processor("blocking", **env)
        await run.ready(blocked)
        info = await distributor.send(BlockThenWait(block=8, wait=0), max_retry=25)
        await eventually(lambda: run.counts(client, "started"), lambda d: info.id in d, timeout=30)
        other = run.start_processor("blocking", **env)  # takes the task over once renewal stops
        await eventually(
            lambda: run.counts(client, "started"), lambda d: d.get(info.id, 0) >= 2, timeout=60
        )
        assert '"loop.hung"' in run.logs()
        for proc in (blocked, other):
            proc.send_signal(signal.SIGTERM)
        assert [await asyncio.to_thread(p.wait, 60) for p in (blocked, other)] == [0, 0]
