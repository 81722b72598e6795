"""Issue 10, item 4: a task marked active that holds no lease (its active-set entry lost) is
found by the orphans pass and runs; a leased one is left alone."""

from __future__ import annotations

import asyncio
import signal

from tandemq.common.task import Field
from tests.apps import Work
from tests.faults.harness import scenario
from tests.support import eventually


async def test_an_active_task_without_a_lease_is_returned_to_pending_and_runs() -> None:
    async with scenario() as (run, client, distributor):
        infos = await distributor.send_many([Work(n=i) for i in range(5)])
        orphan, leased = infos[0].id, infos[1].id
        qk = run.queue
        for task_id in (orphan, leased):  # their hashes written, bare ids in the list
            await distributor._broker.find_envelope("default", task_id, pin=True)
        # What a failover that missed the lease's write leaves: out of pending, state
        # active, an owner, and no entry in the active set.
        await client.lrem(qk.pending, 0, orphan)
        await client.hset(qk.task(orphan), mapping={Field.STATE: "active", Field.OWNER: "gone"})
        # A healthy lease of a processor that is (for this test) alive elsewhere: left alone.
        await client.lrem(qk.pending, 0, leased)
        await client.hset(qk.task(leased), mapping={Field.STATE: "active", Field.OWNER: "other"})
        await client.zadd(qk.active, {leased: 2**52})
        proc = run.start_processor()
        runs = await eventually(
            lambda: run.counts(client, "ledger"), lambda d: orphan in d, timeout=30, every=0.1
        )
        assert leased not in runs
        assert '"task.orphan_returned"' in run.logs()
        assert await client.zscore(qk.active, leased) == 2**52
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
