"""What the inspector returns: typed, frozen pydantic models, shared by the CLI (``--json``)
and the dashboard's JSON API, so both print the same objects."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from tandemq.common.task import TaskInfo, TaskState


class Action(StrEnum):
    """What an operator can do to a task, or to every task of a state."""

    RUN = "run"  # scheduled, retry or archived -> pending (runs as soon as a processor is free)
    ARCHIVE = "archive"  # pending, scheduled or retry -> archived (kept, never run)
    DELETE = "delete"  # any state but active -> gone


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class QueueStats(_Frozen):
    """One queue now: tasks per state, whether it is paused, and today's counts."""

    queue: str
    pending: int
    active: int
    scheduled: int
    retry: int
    archived: int
    completed: int
    canceled: int
    paused: bool
    size: int  # every state together
    oldest_pending_age: float | None  # seconds the next task to run has been waiting; None: empty
    processed_today: int  # attempts finished since 00:00 UTC (succeeded + failed)
    failed_today: int  # attempts failed since 00:00 UTC


def queues_payload(stats: Sequence[QueueStats]) -> list[dict[str, Any]]:
    """The JSON objects of ``tandemq queues --json`` and the dashboard's ``GET /api/queues``."""
    return [s.model_dump(mode="json") for s in stats]


class HistoryPoint(_Frozen):
    at: datetime  # start of the minute or UTC day
    processed: int  # attempts finished (succeeded + failed)
    failed: int  # attempts failed


class QueueHistory(_Frozen):
    """Counts per minute (the last hour) and per UTC day (the last 30 days), oldest first; the
    current minute and day are the last points, still counting."""

    queue: str | None  # None: every queue added up
    per_minute: list[HistoryPoint]
    per_day: list[HistoryPoint]


class TaskSummary(_Frozen):
    """A task as a list shows it: the payload cut to a preview, the error to its last line."""

    id: str
    queue: str
    state: TaskState
    type: str
    payload_preview: str  # the payload's JSON, at most PREVIEW_BYTES of it
    payload_truncated: bool
    retried: int
    max_retry: int
    error: str | None  # last line of the last error (``ValueError: boom``)
    enqueued_at: datetime | None
    next_process_at: datetime | None  # scheduled / retry: when it is due
    failed_at: datetime | None
    completed_at: datetime | None
    deadline: datetime | None
    processor: str | None  # active: the processor holding its lease


class TaskPage(_Frozen):
    """One page of a state's tasks. ``total`` is the state's size when the page was read."""

    queue: str
    state: TaskState
    total: int
    offset: int
    limit: int
    order: str  # how the page is sorted, in words (depends on the state)
    tasks: list[TaskSummary]


class TaskDetail(TaskInfo):
    """Everything stored about one task: TaskInfo's fields (payload, last_error with its
    traceback, retried, every timestamp) plus where it sits now."""

    attempts: int  # attempts started, as far as the task's state tells
    processor: str | None = None  # active: the processor holding its lease
    lease_expires_at: datetime | None = None  # active: when its lease runs out
    archived_at: datetime | None = None  # archived: when
    archived_by_operator: bool = False  # archived by an operator's action, not by failing
    expires_at: datetime | None = None  # completed: when it is deleted
    unique_lock: str | None = None  # key of the unique lock it holds, if sent with unique_for


class BulkResult(_Frozen):
    queue: str
    state: TaskState
    action: Action
    done: int  # tasks taken from the state (those deleted underneath are counted too)
