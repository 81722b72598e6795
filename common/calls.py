"""Script calls and reply decoding shared by the async Broker and the SyncBroker: what to send
(script name, KEYS, ARGV) and what a reply means, with no I/O, so both clients write the same
task the same way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import DuplicateTask, TaskIdConflict
from .keys import Keys
from .task import TOMBSTONE_TTL, Field, TaskInfo, TaskState

BATCH = 1000  # most tasks one script call moves or writes; keeps each script short

Call = tuple[str, Sequence[str], Sequence[Any]]  # script name, KEYS, ARGV

# What cancel.lua answers, by name (see Distributor.cancel).
CANCEL_REPLIES = {0: "not_found", 1: "canceled", 2: "canceling", 3: "finished"}
# What watch.lua answers.
WATCH_MISSING, WATCH_REGISTERED, WATCH_FINAL = 0, 1, 2


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


class ScriptCalls:
    """Builds script calls under one key prefix; the brokers send them."""

    keys: Keys

    @staticmethod
    def _fields(task: NewTask) -> list[Any]:
        """The task hash as field, value, ... except type, payload and the unique lock's key.

        Only what differs from the defaults is written: no ``retried`` (absent reads as 0) and
        no ``state`` for a pending task (absent reads as pending); small hashes stay compact."""
        fields: list[Any] = [Field.MAX_RETRY, task.max_retry, Field.ENQUEUED, task.enqueued_ms]
        optional = (
            (Field.STATE, TaskState.SCHEDULED if task.due_ms else None),
            (Field.DUE, task.due_ms or None),
            (Field.TIMEOUT, task.timeout_ms),
            (Field.DEADLINE, task.deadline_ms),
            (Field.RETENTION, task.retention_ms),
            (Field.NONCE, task.nonce),
            (Field.RESULT_TTL, task.result_ttl_ms),
        )
        fields += [item for name, value in optional if value is not None for item in (name, value)]
        return fields

    def _enqueue_call(self, task: NewTask) -> Call:
        qk = self.keys.queue(task.queue)
        unique_key = qk.unique(task.type, task.payload) if task.unique_ttl_ms else qk.unique_prefix
        target = qk.scheduled if task.due_ms else qk.pending
        header = (task.due_ms, task.unique_ttl_ms, Field.TYPE, task.type, *self._fields(task))
        packed = "\x1f".join(map(str, header))  # see enqueue.lua: fewer arguments to pack
        args = (task.id, task.payload, packed, self.keys.wake_channel, task.queue)
        return ("enqueue", (qk.task(task.id), target, unique_key), args)

    @staticmethod
    def _check_enqueued(task: NewTask, result: Any) -> None:
        if result == 0:
            raise TaskIdConflict(task.id, task.queue)
        if isinstance(result, list):
            raise DuplicateTask(task.type, task.queue, text(result[1]) or None)

    def _enqueue_many_calls(self, tasks: Sequence[NewTask]) -> list[Call]:
        if any(t.unique_ttl_ms for t in tasks):
            raise ValueError("enqueue_many does not take unique tasks: send them with enqueue")
        groups: dict[tuple[Any, ...], list[NewTask]] = {}
        for t in tasks:  # one group per set of shared fields (see _fields)
            shared = (t.queue, t.due_ms, t.max_retry, t.enqueued_ms, t.timeout_ms,
                      t.deadline_ms, t.retention_ms, t.result_ttl_ms)  # fmt: skip
            groups.setdefault(shared, []).append(t)
        return [
            self._enqueue_many_call(group[start : start + BATCH])
            for group in groups.values()
            for start in range(0, len(group), BATCH)
        ]

    def _enqueue_many_call(self, tasks: Sequence[NewTask]) -> Call:
        first = tasks[0]
        qk = self.keys.queue(first.queue)
        shared = self._fields(first)  # the same for the whole chunk
        args: list[Any] = [qk.task_prefix, self.keys.wake_channel, first.queue, first.due_ms]
        args += [len(shared), *shared]
        sep = b"\x1f"
        args += [sep.join((t.id.encode(), t.type.encode(), t.payload)) for t in tasks]
        target = qk.scheduled if first.due_ms else qk.pending
        return ("enqueue_many", (target,), args)

    # -- results, waiting and cancellation ------------------------------------------------

    def _watch_call(self, queue: str, task_id: str) -> Call:
        qk = self.keys.queue(queue)
        return ("watch", (qk.task(task_id), qk.waiter(task_id)), ())

    def _cancel_call(self, queue: str, task_id: str, now: int) -> Call:
        qk = self.keys.queue(queue)
        keys = (qk.task(task_id), qk.pending, qk.scheduled, qk.retry, qk.canceled)
        return ("cancel", keys, (task_id, now, self.keys.cancel_channel, queue))

    def _trim_call(
        self, queue: str, now: int, archive_max_size: int, archive_max_age_ms: int
    ) -> Call:
        qk = self.keys.queue(queue)
        tomb_ms = int(TOMBSTONE_TTL.total_seconds() * 1000)
        args = (now, now - archive_max_age_ms, archive_max_size, qk.task_prefix, BATCH,
                qk.tombstone_prefix, tomb_ms)  # fmt: skip
        return ("trim", (qk.completed, qk.archived, qk.canceled), args)


def task_info(task_id: str, queue: str, raw: dict[Any, Any]) -> TaskInfo:
    """A TaskInfo from a task hash as HGETALL returned it (bytes or str)."""
    fields = {text(k): v if isinstance(v, bytes) else str(v).encode() for k, v in raw.items()}
    _join_payload(fields)
    # errors="replace": a corrupt task must still be shown, not make get_task fail
    decoded = {k: v.decode(errors="replace") for k, v in fields.items()}
    return TaskInfo.from_hash(task_id, queue, decoded)


def tombstone_info(task_id: str, queue: str, raw: Any) -> TaskInfo | None:
    """A forgotten task's TaskInfo from its tombstone (GET reply), or None without one."""
    if raw is None:
        return None
    value = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return TaskInfo.from_tombstone(task_id, queue, value)


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _join_payload(fields: dict[str, Any]) -> None:
    """Join a payload stored in pieces (p, p2, ...: see _lib.lua) back into one, as bytes: a
    piece may end inside a multi-byte character."""
    first = Field.PAYLOAD
    if f"{first}2" not in fields or first not in fields:
        return
    parts, i = [fields[first]], 2
    while (part := fields.pop(f"{first}{i}", None)) is not None:
        parts.append(part)
        i += 1
    fields[first] = b"".join(parts)
