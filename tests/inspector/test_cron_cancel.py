"""Inspector.cron_entries and Inspector.cancel_task against real Redis: entries with their
last and next run, and cancel of a waiting, a running, a finished and an unknown task."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.keys import Keys
from tandemq.common.task import TaskState
from tandemq.inspector import Inspector, TaskNotFound
from tests.cron_seed import LAST_MS, NEXT_MS, register_entries

from .conftest import Seeder


async def test_cron_entries_lists_every_entry_with_last_and_next_run(
    inspector: Inspector, broker: Broker, redis: Redis, prefix: str
) -> None:
    assert await inspector.cron_entries() == []
    await register_entries(broker, redis, prefix)
    report, sync = await inspector.cron_entries()
    assert (report.id, report.kind, report.queue, report.type) == (
        "report", "cron", "low", "tests.report",
    )  # fmt: skip
    assert report.payload == {"kind": "sales"}
    assert report.last_run is not None and report.next_run is not None
    assert int(report.last_run.timestamp() * 1000) == LAST_MS
    assert int(report.next_run.timestamp() * 1000) == NEXT_MS
    assert (sync.id, sync.kind, sync.last_run, sync.next_run) == ("sync", "every", None, None)


async def test_cancel_takes_a_waiting_task_out_of_its_state(
    inspector: Inspector, seed: Seeder, redis: Redis, prefix: str
) -> None:
    retry = await seed.retry("q")  # first: it leases the queue's next pending task
    (pending,) = await seed.pending("q")
    scheduled = await seed.scheduled("q")
    for task_id in (pending, scheduled, retry):
        assert await inspector.cancel_task("q", task_id) == "canceled"
        assert (await inspector.get_task("q", task_id)).state is TaskState.CANCELED
    qk = Keys(prefix).queue("q")
    assert await redis.llen(qk.pending) == 0
    assert await redis.zcard(qk.scheduled) == 0 and await redis.zcard(qk.retry) == 0
    assert (await inspector.queue("q")).canceled == 3


async def test_cancel_of_a_running_task_flags_it_and_a_finished_one_is_left(
    inspector: Inspector, seed: Seeder
) -> None:
    active = await seed.active("q")
    assert await inspector.cancel_task("q", active) == "canceling"
    completed = await seed.completed("q")
    assert await inspector.cancel_task("q", completed) == "finished"
    assert (await inspector.get_task("q", completed)).state is TaskState.COMPLETED


async def test_cancel_of_an_unknown_task_is_task_not_found(
    inspector: Inspector, seed: Seeder
) -> None:
    await seed.pending("q")
    with pytest.raises(TaskNotFound):
        await inspector.cancel_task("q", "no-such-task")
