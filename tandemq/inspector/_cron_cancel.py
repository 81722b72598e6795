"""The inspector's periodic-entry listing and task cancellation (issue 13's operator side).

Both wrap what the core already does: ``list_cron_entries`` reads the registry processors
write at start; cancel.lua takes a waiting task out of its state or flags a running one."""

from __future__ import annotations

from typing import cast

from tandemq.common.cron_registry import CronEntryInfo, list_cron_entries
from tandemq.common.errors import TaskNotFound
from tandemq.distributor.core import CancelResult

from ._reads import Store


async def cron_entries(store: Store) -> list[CronEntryInfo]:
    """Every registered periodic entry with its last and next run, sorted by id."""
    return await list_cron_entries(store.redis, store.keys.prefix)


async def cancel_task(store: Store, queue: str, task_id: str) -> CancelResult:
    """Cancel one task: "canceled" (it was waiting), "canceling" (its processor stops it),
    "finished" (it had already ended). TaskNotFound for an unknown id."""
    reply = await store.broker.cancel(queue, task_id)
    if reply == "not_found":
        raise TaskNotFound(task_id, queue)
    return cast(CancelResult, reply)


def schedule_and_tz(entry: CronEntryInfo) -> tuple[str, str]:
    """The entry's spec or interval and its time zone, for listings' two columns: a cron spec
    in a zone is recorded as ``"0 9 * * * (Europe/Riga)"``; intervals have no zone ("-")."""
    if entry.kind == "every":
        return entry.schedule, "-"
    spec, sep, zone = entry.schedule.rpartition(" (")
    if sep and zone.endswith(")"):
        return spec, zone[:-1]
    return entry.schedule, "UTC"
