"""Fault scenarios 5 and 6: hostile input against a real daemon, and 100,000 scheduled tasks."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import timedelta

import pytest
from pydantic import BaseModel

from tandemq.common.task import Field, TaskInfo
from tandemq.distributor import Distributor, PayloadTooLarge
from tests.apps import Hostile, Work
from tests.faults.harness import scenario
from tests.support import eventually


class Blob(BaseModel):
    data: str


async def _final(
    distributor: Distributor, task_id: str, state: str, timeout: float = 20
) -> TaskInfo:
    info = await eventually(
        lambda: distributor.get_task(task_id),
        lambda i: i is not None and i.state == state,
        timeout=timeout,
    )
    assert info is not None
    return info


async def test_hostile_input_is_archived_with_clear_errors_and_the_daemon_keeps_serving() -> None:
    async with scenario() as (run, client, distributor):
        proc = run.start_processor("hostile", TANDEMQ_LEASE_SECONDS="3", TANDEMQ_CONCURRENCY="4")
        with pytest.raises(PayloadTooLarge):
            await distributor.send(Blob(data="x" * 10_000_000))
        assert await client.llen(run.queue.pending) == 0  # nothing written

        raised = await distributor.send(Hostile(behaviour="raise"), max_retry=1)
        skipped = await distributor.send(Hostile(behaviour="skip"), max_retry=5)
        hung = await distributor.send(
            Hostile(behaviour="hang"), timeout=timedelta(milliseconds=500), max_retry=0
        )
        exits = await distributor.send(Hostile(behaviour="exit"), max_retry=0)
        # Blocks the whole loop for 2 s with a 3 s lease: renewed in time, so it runs once.
        blocks = await distributor.send(
            Hostile(behaviour="block", seconds=2), retention=timedelta(minutes=5)
        )
        for task_id, fields in {
            "corrupt-json": {Field.TYPE: "tests.work", Field.PAYLOAD: "{nope"},
            "unknown-type": {Field.TYPE: "tests.nobody.handles.this", Field.PAYLOAD: "{}"},
            "invalid-payload": {Field.TYPE: "tests.work", Field.PAYLOAD: '{"n": "many"}'},
        }.items():
            await client.hset(
                run.queue.task(task_id),
                mapping={Field.STATE: "pending", Field.MAX_RETRY: "3", **fields},
            )
            await client.lpush(run.queue.pending, task_id)

        assert "hostile handler raised" in (
            (await _final(distributor, raised.id, "archived")).last_error or ""
        )
        assert (await _final(distributor, skipped.id, "archived")).retried == 0
        assert "TaskTimeout" in ((await _final(distributor, hung.id, "archived")).last_error or "")
        assert "SystemExit: 7" in (
            (await _final(distributor, exits.id, "archived")).last_error or ""
        )
        assert (await _final(distributor, blocks.id, "completed")).retried == 0
        assert "not valid JSON" in (
            (await _final(distributor, "corrupt-json", "archived")).last_error or ""
        )
        assert "no handler" in (
            (await _final(distributor, "unknown-type", "archived")).last_error or ""
        )
        assert "InvalidPayload" in (
            (await _final(distributor, "invalid-payload", "archived")).last_error or ""
        )

        after = await distributor.send(Work(n=1), retention=timedelta(minutes=5))
        await _final(distributor, after.id, "completed")
        print(
            "FAULTS hostile-input: n=9 injected=10 MB payload, raise, SkipRetry, hang, loop block, sys.exit, corrupt JSON, unknown type, invalid payload lost=0 duplicated=0"
        )
        assert proc.poll() is None, run.logs()
        await run.ready(proc)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0, run.logs()


async def _spread(n: int, spread: float) -> None:
    async with scenario() as (run, client, distributor):
        proc = run.start_processor(TANDEMQ_CONCURRENCY="100", TANDEMQ_LOG_LEVEL="WARNING")
        buckets = 100
        ids: set[str] = set()
        for b in range(buckets):
            delay = spread * b / buckets
            not_before = time.time() + delay  # the real due time is computed later, so >= this
            batch = [Work(n=b * n + i, not_before=not_before) for i in range(n // buckets)]
            infos = await distributor.send_many(batch, process_in=timedelta(seconds=delay))
            ids.update(i.id for i in infos)
        await eventually(
            lambda: client.hlen(f"{run.prefix}:ledger"),
            lambda v: v >= len(ids),
            timeout=600,
            every=0.5,
        )
        verdict = await run.verdict(client, ids)
        print(verdict.line("scheduled-spread", f"process_in spread over {spread:g}s"))
        assert verdict.lost == []
        assert verdict.early == 0
        assert verdict.duplicated == 0
        assert await client.zcard(run.queue.scheduled) == 0
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0, run.logs()


async def test_scheduled_tasks_spread_over_10s_run_once_and_never_early() -> None:
    await _spread(n=20_000, spread=10.0)


@pytest.mark.faults
@pytest.mark.timeout(900)
async def test_100k_scheduled_tasks_spread_over_10s_run_once_and_never_early() -> None:
    await _spread(n=100_000, spread=10.0)
