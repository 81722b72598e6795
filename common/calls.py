"""Script calls and reply decoding shared by the async Broker and the SyncBroker: what to send
(script name, KEYS, ARGV) and what a reply means, with no I/O, so both clients write the same
task the same way."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any

from .clock import now_ms
from .envelope import encode, fits
from .errors import DuplicateTask, TaskIdConflict
from .keys import Keys
from .task import TOMBSTONE_TTL, Field, NewTask, TaskInfo
from .task_hash import hash_fields, text
from .transport import Call

BATCH = 1000  # most tasks one script call moves or writes; keeps each script short
# find_envelope.lua reads a pending list this many entries per call (about 1 ms of Lua), and
# reads the last FIND_OVERLAP of a stretch again in the next: an entry taken out of the list
# nearer its newest end meanwhile moves the others back by one, and must not hide one.
FIND_STRETCH, FIND_OVERLAP = 2000, 50

# What cancel.lua answers, by name (see Distributor.cancel).
CANCEL_MISSING = 0
CANCEL_REPLIES = {CANCEL_MISSING: "not_found", 1: "canceled", 2: "canceling", 3: "finished"}
# What watch.lua answers.
WATCH_MISSING, WATCH_REGISTERED, WATCH_FINAL = 0, 1, 2


class ScriptCalls:
    """Builds script calls under one key prefix; the brokers send them."""

    keys: Keys

    def _enqueue_call(self, task: NewTask, envelope: bool = False) -> Call:
        """The call that writes ``task``: pushed as an envelope when ``envelope`` (the
        caller's connection sends a first try once, never again on its own) and the task
        fits one (common/envelope.py), else as a task hash."""
        qk = self.keys.queue(task.queue)
        if envelope and fits(task):
            pushed = (encode(task), self.keys.wake_channel, task.queue, "e")
            return ("push_envelope", (qk.pending, qk.task(task.id)), pushed)
        unique_key = qk.unique(task.type, task.payload) if task.unique_ttl_ms else qk.unique_prefix
        target = qk.scheduled if task.due_ms else qk.pending
        header = (task.due_ms, task.unique_ttl_ms, Field.TYPE, task.type, *hash_fields(task))
        packed = "\x1f".join(map(str, header))  # see enqueue.lua: fewer arguments to pack
        args = (task.id, task.payload, packed, self.keys.wake_channel, task.queue)
        return ("enqueue", (qk.task(task.id), target, unique_key), args)

    @staticmethod
    def _check_enqueued(task: NewTask, result: Any) -> None:
        if result == 0:
            raise TaskIdConflict(task.id, task.queue)
        if isinstance(result, list):
            raise DuplicateTask(task.type, task.queue, text(result[1]) or None)

    def _enqueue_many_calls(self, tasks: Sequence[NewTask], envelope: bool = False) -> list[Call]:
        if any(t.unique_ttl_ms for t in tasks):
            raise ValueError("enqueue_many does not take unique tasks: send them with enqueue")
        groups: dict[tuple[Any, ...], list[NewTask]] = {}
        for t in tasks:  # one group per set of shared fields (see hash_fields)
            shared = (t.queue, t.due_ms, t.max_retry, t.enqueued_ms, t.timeout_ms,
                      t.deadline_ms, t.retention_ms, t.headers, t.result_ttl_ms)  # fmt: skip
            groups.setdefault(shared, []).append(t)
        return [
            self._enqueue_many_call(group[start : start + BATCH], envelope)
            for group in groups.values()
            for start in range(0, len(group), BATCH)
        ]

    def _enqueue_many_call(self, tasks: Sequence[NewTask], envelope: bool) -> Call:
        first = tasks[0]
        qk = self.keys.queue(first.queue)
        shared = hash_fields(first)  # the same for the whole chunk
        mode = "e" if envelope and all(fits(t) for t in tasks) else "h"
        args: list[Any] = [qk.task_prefix, self.keys.wake_channel, first.queue, first.due_ms]
        args += [mode, len(shared), *shared]
        sep = b"\x1f"
        args += [sep.join((t.id.encode(), t.type.encode(), t.payload)) for t in tasks]
        target = qk.scheduled if first.due_ms else qk.pending
        return ("enqueue_many", (target,), args)

    def _mark_call(self, index: str, mode: str, score: float, queues: Iterable[str]) -> Call:
        return ("mark", (index,), (mode, repr(score), *queues))

    def _mark_due_call(self, queues: Iterable[str]) -> Call:
        """Mark queues to be looked at by the forwarder now (a score unlikely to equal the one
        it read: see due_settle.lua). A one-key call of its own: ``p:due`` is a global key,
        in its own cluster slot (see common/indexes.py)."""
        return self._mark_call(self.keys.due, "", now_ms() + random.random(), queues)

    def _find_call(self, queue: str, task_id: str, start: int, pin: bool) -> Call:
        """find_envelope.lua on one stretch of the queue's pending list, from ``start``."""
        qk = self.keys.queue(queue)
        args = (task_id, start, FIND_STRETCH, "pin" if pin else "read", qk.task_prefix)
        return ("find_envelope", (qk.pending,), args)

    # -- results, waiting and cancellation ------------------------------------------------

    def _watch_call(self, queue: str, task_id: str) -> Call:
        qk = self.keys.queue(queue)
        return ("watch", (qk.task(task_id), qk.waiter(task_id)), ())

    def _cancel_call(self, queue: str, task_id: str, now: int) -> Call:
        qk = self.keys.queue(queue)
        keys = (qk.task(task_id), qk.pending, qk.scheduled, qk.retry, qk.canceled)
        return ("cancel", keys, (task_id, now, self.keys.cancel_channel, queue))

    def _ack_result_calls(
        self, queue: str, owner: str, now: int, pairs: Sequence[tuple[str, bytes]]
    ) -> list[Call]:
        qk = self.keys.queue(queue)
        calls: list[Call] = []
        for start in range(0, len(pairs), BATCH):
            args: list[Any] = [owner, now, qk.task_prefix]
            args += [item for pair in pairs[start : start + BATCH] for item in pair]
            calls.append(("ack_result", (qk.active, qk.completed), args))
        return calls

    def _trim_call(
        self, queue: str, now: int, archive_max_size: int, archive_max_age_ms: int
    ) -> Call:
        qk = self.keys.queue(queue)
        tomb_ms = int(TOMBSTONE_TTL.total_seconds() * 1000)
        args = (now, now - archive_max_age_ms, archive_max_size, qk.task_prefix, BATCH,
                qk.tombstone_prefix, tomb_ms)  # fmt: skip
        return ("trim", (qk.completed, qk.archived, qk.canceled), args)


def next_stretch(start: int, reply: Sequence[Any]) -> int | bytes | None:
    """From find_envelope.lua's reply: the envelope found (bytes), where the next stretch
    starts (int), or None when the list ended without it."""
    found, value = reply
    if int(found):
        return bytes(value)
    if int(value) < FIND_STRETCH:
        return None
    return start + FIND_STRETCH - FIND_OVERLAP


def tombstone_info(task_id: str, queue: str, raw: Any) -> TaskInfo | None:
    """A forgotten task's TaskInfo from its tombstone (GET reply), or None without one."""
    if raw is None:
        return None
    value = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return TaskInfo.from_tombstone(task_id, queue, value)
