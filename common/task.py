"""The task's shapes: hash field names and states as stored in Redis, the task a distributor
writes (NewTask), the envelope a processor runs (TaskMessage), and the read model (TaskInfo)
returned to users. Pure data: no Redis handle here; common/task_hash.py converts to and from
the stored hash."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from .clock import from_ms


class TaskState(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    RETRY = "retry"
    ARCHIVED = "archived"
    COMPLETED = "completed"
    CANCELED = "canceled"


# How long a finished task with something to show (a result, a cancellation, a waiter) is
# kept when sent without result_ttl (the longer of this and its retention): send option default.
DEFAULT_RESULT_TTL = timedelta(hours=1)
DEFAULT_KEEP_MS = int(DEFAULT_RESULT_TTL.total_seconds() * 1000)
# A finished task's tombstone (state, type, time) outlives its data by this much (trim.lua).
TOMBSTONE_TTL = timedelta(hours=1)

# States a task does not leave: wait() returns once the task is in one of them.
FINAL_STATES = frozenset({TaskState.COMPLETED, TaskState.ARCHIVED, TaskState.CANCELED})


class Field:
    """Field names of the task hash ``p:{q}:t:<id>``; the Lua scripts use the same literals.

    One or two letters each: a pending task's hash is mostly field names and short values,
    and long names cost about 30 bytes a task (docs/DESIGN.md, "Compact task hashes").
    """

    TYPE = "t"  # wire type name of the payload
    PAYLOAD = "p"  # the payload's JSON as pydantic encoded it; 65-2048 bytes: pieces p, p2, ...
    STATE = "s"  # a TaskState value (absent: pending)
    RETRIED = "r"  # failed attempts so far (absent: 0)
    MAX_RETRY = "m"  # retries allowed before archiving
    TIMEOUT = "to"  # per-attempt timeout, ms (absent: processor default)
    DEADLINE = "dl"  # absolute deadline, epoch ms (absent: none)
    RETENTION = "rt"  # keep completed task this many ms (absent: delete on success)
    UNIQUE = "u"  # key of the unique lock this task holds (absent: none)
    ENQUEUED = "e"  # epoch ms of send
    DUE = "d"  # epoch ms of the next planned run (scheduled/retry)
    OWNER = "o"  # id of the processor holding the lease while active
    ERROR = "err"  # last error text (traceback)
    FAILED = "f"  # epoch ms of the last failure
    DONE = "c"  # epoch ms of completion
    NONCE = "n"  # random per send() call, only with a caller's task_id: a resend is its own
    RESULT = "rs"  # the handler's return value as JSON (absent: it returned None)
    RESULT_TTL = "rl"  # keep a finished task with something to show this many ms (absent: default)
    WAITER = "w"  # key of the wake-up list of wait() callers (absent: nobody waits)
    CANCEL = "x"  # cancel() was asked while the task ran: never retried (absent: no)
    HEADERS = "h"  # headers as compact JSON (absent: none); 65-128 bytes: pieces h and h2


# What dequeue.lua returns for each task, in this order (after the id).
DEQUEUE_FIELDS = (
    Field.TYPE,
    Field.PAYLOAD,
    Field.RETRIED,
    Field.MAX_RETRY,
    Field.TIMEOUT,
    Field.DEADLINE,
    Field.ENQUEUED,
    Field.HEADERS,
)


@dataclass(slots=True)
class NewTask:
    """A task to write, as the distributor built it."""

    id: str
    queue: str
    type: str
    payload: bytes
    max_retry: int
    enqueued_ms: int
    due_ms: int = 0  # 0: pending now
    timeout_ms: int | None = None
    deadline_ms: int | None = None
    retention_ms: int | None = None
    unique_ttl_ms: int = 0  # 0: not unique
    nonce: str | None = None  # with a caller's task_id: tells this send's resend from a conflict
    result_ttl_ms: int | None = None  # None: DEFAULT_RESULT_TTL
    headers: str | None = None  # compact JSON of the sender's headers (trace context ...)


@dataclass(slots=True)
class TaskMessage:
    """A task handed to a processor by dequeue: what a run needs, nothing more."""

    id: str
    queue: str
    type: str
    payload: bytes
    retried: int
    max_retry: int
    timeout_ms: int | None
    deadline_ms: int | None
    enqueued_ms: int
    corrupt: str | None = None  # why the stored fields could not be read, if they could not
    headers: Mapping[str, str] | None = None  # what the sender attached (trace context ...)


class TaskInfo(BaseModel):
    """A snapshot of one task, as returned by ``Distributor.get_task``."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    queue: str
    state: TaskState
    payload: Any
    retried: int
    max_retry: int
    last_error: str | None = None
    enqueued_at: datetime | None = None
    next_process_at: datetime | None = None
    completed_at: datetime | None = None
    failed_at: datetime | None = None
    timeout: timedelta | None = None
    deadline: datetime | None = None
    retention: timedelta | None = None
    result: Any = None  # the handler's return value, decoded from JSON (None: none returned)
    result_ttl: timedelta | None = None  # as sent (None: the default, DEFAULT_RESULT_TTL)
    forgotten: bool = False  # finished and its data expired: only state, type, time are known

    @classmethod
    def from_hash(cls, task_id: str, queue: str, fields: dict[str, str]) -> TaskInfo:
        """Build from the task hash (decoded to str); tolerant of missing or bad payload JSON."""
        return cls(
            id=task_id,
            type=fields.get(Field.TYPE, ""),
            queue=queue,
            state=_state(fields.get(Field.STATE)),
            payload=payload_value(fields.get(Field.PAYLOAD, "")),
            retried=_int(fields, Field.RETRIED) or 0,
            max_retry=_int(fields, Field.MAX_RETRY) or 0,
            last_error=fields.get(Field.ERROR) or None,
            enqueued_at=_time(fields, Field.ENQUEUED),
            next_process_at=_time(fields, Field.DUE),
            completed_at=_time(fields, Field.DONE),
            failed_at=_time(fields, Field.FAILED),
            timeout=_span(fields, Field.TIMEOUT),
            deadline=_time(fields, Field.DEADLINE),
            retention=_span(fields, Field.RETENTION),
            result=_json(fields.get(Field.RESULT)),
            result_ttl=_span(fields, Field.RESULT_TTL),
        )

    @classmethod
    def from_tombstone(cls, task_id: str, queue: str, value: str) -> TaskInfo:
        """Build from a tombstone ``state\\x1ftype\\x1fdone ms`` (see trim.lua)."""
        state, type_, done = [*value.split("\x1f"), "", "", ""][:3]
        return cls(
            id=task_id,
            type=type_,
            queue=queue,
            state=_state(state),
            payload=None,
            retried=0,
            max_retry=0,
            completed_at=_time({"c": done}, "c"),
            forgotten=True,
        )

    @classmethod
    def of_running(cls, task: TaskMessage) -> TaskInfo:
        """What a processor holds of a running task, without a Redis read (no last error:
        the one being decided about is not stored yet)."""
        return cls(
            id=task.id,
            type=task.type,
            queue=task.queue,
            state=TaskState.ACTIVE,
            payload=payload_value(task.payload.decode(errors="replace")),
            retried=task.retried,
            max_retry=task.max_retry,
            enqueued_at=_time_of(task.enqueued_ms),
            timeout=_span_of(task.timeout_ms),
            deadline=_time_of(task.deadline_ms),
        )


def _json(raw: str | None) -> Any:
    return None if raw is None else payload_value(raw)


def payload_value(raw: str) -> Any:
    """The stored payload JSON as Python values; the raw text when it is not JSON (a task
    must still be shown)."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _state(value: str | None) -> TaskState:
    try:
        return TaskState(value or TaskState.PENDING)
    except ValueError:
        return TaskState.PENDING


def _int(fields: dict[str, str], name: str) -> int | None:
    """A numeric field; None when absent or unreadable (a corrupt task must still be shown)."""
    try:
        return int(fields[name])
    except (KeyError, ValueError):
        return None


def _time(fields: dict[str, str], name: str) -> datetime | None:
    return _time_of(_int(fields, name))


def _time_of(value: int | None) -> datetime | None:
    try:
        return None if value is None else from_ms(value)
    except (ValueError, OverflowError, OSError):  # out of datetime's range: shown as unknown
        return None


def _span(fields: dict[str, str], name: str) -> timedelta | None:
    return _span_of(_int(fields, name))


def _span_of(value: int | None) -> timedelta | None:
    try:
        return None if value is None else timedelta(milliseconds=value)
    except OverflowError:
        return None
