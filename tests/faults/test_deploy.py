"""Issue 10, item 3: during a rolling deploy, a type only the new processors know is neither
archived nor charged a retry by the old ones; a type nobody handles is archived after the
grace period, saying why."""

from __future__ import annotations

import asyncio
import signal

from tandemq.common.task import TaskState
from tests.apps import NewKind
from tests.faults.harness import scenario
from tests.support import eventually


async def test_a_type_only_a_new_processor_knows_runs_there_and_is_never_archived() -> None:
    async with scenario() as (run, client, distributor):
        old = run.start_processor("ledger")
        new = run.start_processor("new_release")
        for proc in (old, new):
            await run.ready(proc)
        infos = [await distributor.send(NewKind(n=i), max_retry=25) for i in range(20)]
        ids = {i.id for i in infos}
        await eventually(
            lambda: client.hlen(f"{run.prefix}:ledger"), lambda v: v >= 20, timeout=60, every=0.1
        )
        verdict = await run.verdict(client, ids)
        ran_by = {k.decode().split(":")[1] for k in await client.hkeys(f"{run.prefix}:ran_by")}
        deferred = run.logs().count('"task.deferred"')
        print(verdict.line("rolling-deploy", f"1 old + 1 new processor, {deferred} deferrals"))
        assert verdict.lost == [] and verdict.duplicated == 0
        assert ran_by == {str(new.pid)}
        assert await client.zcard(run.queue.archived) == 0
        for info in infos:
            final = await client.hget(run.queue.task(info.id), "r")
            assert final is None  # no retry charged (the hash is gone: acked)
        for proc in (old, new):
            proc.send_signal(signal.SIGTERM)
        assert [await asyncio.to_thread(p.wait, 30) for p in (old, new)] == [0, 0]


async def test_a_type_no_processor_knows_is_archived_after_the_grace_period() -> None:
    async with scenario() as (run, _client, distributor):
        old = run.start_processor("ledger", TANDEMQ_UNKNOWN_TYPE_GRACE_SECONDS="2")
        await run.ready(old)
        info = await distributor.send(NewKind(n=1), max_retry=25)
        archived = await eventually(
            lambda: distributor.get_task(info.id),
            lambda i: i is not None and i.state == TaskState.ARCHIVED,
            timeout=30,
        )
        assert archived is not None and archived.retried == 0
        assert "TANDEMQ_UNKNOWN_TYPE_GRACE_SECONDS" in (archived.last_error or "")
        assert '"task.deferred"' in run.logs()  # it waited first
        old.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(old.wait, 30) == 0
