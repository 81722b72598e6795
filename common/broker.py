"""Broker, the one object that changes task state in Redis: one typed async method per
operation, each building its scripts' keys and arguments and reading their replies.

This module owns the distributor's side (enqueue, periodic tasks' ticks), reads (get,
find_envelope), results, waiting and cancellation, and operators' actions. Broker extends the
processor's side, the lease lifecycle (common/leases.py), and the global indexes
(common/indexes.py), so callers hold one object.

How a call travels (pipelining connection or redis-py, NOSCRIPT, OOM, timeouts) is the
transport's (common/transport.py); how a task is laid out in its hash is common/task_hash.py's.
Every method is one script call per queue touched, in one round trip. Connection failures
surface as ``BrokerUnavailable`` so callers handle one error type.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from redis.asyncio import Redis

from .calls import (
    CANCEL_MISSING,
    CANCEL_REPLIES,
    WATCH_MISSING,
    next_stretch,
    tombstone_info,
)
from .clock import now_ms
from .envelope import info as envelope_info
from .envelope import may_be_enveloped
from .indexes import Indexes
from .keys import Keys
from .leases import LeaseStore
from .replies import StreamStopped, incomplete_send
from .task import NewTask, TaskInfo, TaskState
from .task_hash import info_from_hash, text
from .transport import Call, Transport

__all__ = ["Broker", "Call", "NewTask"]  # NewTask: still importable from here


class Broker(LeaseStore, Indexes):
    """Task storage on one Redis client, under one key prefix."""

    def __init__(self, redis: Redis, keys: Keys, timeout: float = 5.0) -> None:
        self.redis = redis
        self.keys = keys
        self.timeout = timeout
        self.transport = Transport(redis, timeout)
        self._known_queues: set[str] = set()

    async def aclose(self) -> None:
        """Close the broker's own connection (the redis-py client is the caller's)."""
        await self.transport.aclose()

    async def load_scripts(self) -> None:
        """SCRIPT LOAD every script (idempotent); done up front and again after NOSCRIPT."""
        await self.transport.load_scripts()

    async def _call(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """One script call (by its name in common/scripts.py); its error raised."""
        return await self.transport.call(name, keys, args)

    async def _call_many(self, calls: Sequence[Call], resend: bool = True) -> list[Any]:
        """Script calls in one round trip; the first call's error raised."""
        return await self.transport.call_many(calls, resend)

    async def register_queues(self, queues: Iterable[str]) -> None:
        """Add queue names to the global set read by inspection tools (once per name)."""
        new = [q for q in queues if q not in self._known_queues]
        if not new:
            return
        async with self.transport.guard():
            await self.redis.sadd(self.keys.queues, *new)
        self._known_queues.update(new)

    # -- the distributor's side -----------------------------------------------------------

    async def enqueue(self, task: NewTask, meanwhile: Callable[[], object] | None = None) -> None:
        """Write one task. Raises TaskIdConflict, DuplicateTask or BrokerUnavailable.

        Concurrent calls share round trips (the pipelining connection). ``meanwhile``: the
        caller's work done while the reply is on its way (see Transport.run)."""
        if task.queue not in self._known_queues:
            await self.register_queues((task.queue,))
        calls = [self._enqueue_call(task, self.transport.pipelined)]
        if task.due_ms:  # the forwarder finds scheduled tasks through p:due
            calls.append(self._mark_due_call([task.queue]))
        result = (await self.transport.run(calls, meanwhile=meanwhile))[0]
        if isinstance(result, Exception):
            raise result
        self._check_enqueued(task, result)

    async def landed(self, task: NewTask) -> bool:
        """Whether an earlier send of ``task`` whose reply was lost had written it: its
        envelope still pending or its hash there (push_envelope.lua's check-only mode)."""
        name, keys, args = self._enqueue_call(task, envelope=True)
        if name != "push_envelope":
            return await self.get(task.queue, task.id) is not None
        return int(await self._call(name, keys, (*args[:3], "k"))) == 0

    async def enqueue_many(self, tasks: Sequence[NewTask]) -> list[str]:
        """Write many tasks: one script call per chunk of tasks that share their queue and
        options (all but id, type and payload). Returns the ids that already existed and were
        left as they were (the others were written).

        Always as task hashes: a caller (the outbox relay) may send the same tasks again in
        another call, told apart only by their ids existing, which an envelope never shows."""
        return await self.enqueue_chunks([tasks], envelopes=False)

    async def enqueue_chunks(
        self, chunks: Iterable[Sequence[NewTask]], *, envelopes: bool = True
    ) -> list[str]:
        """enqueue_many for tasks produced chunk by chunk: each chunk's script calls are
        written as soon as the chunk is built, and the replies are read at the end, so Redis
        runs chunk k while the caller builds chunk k+1 (Transport.stream).

        If the connection fails, every call is sent again through the retrying path: a task
        that had landed comes back as existing (enqueue_many.lua skips it), so none is
        written twice. Returns the ids that already existed.

        A failure part-way raises SendManyIncomplete with the ids written, not written and
        unknown; one before anything was written raises its own error (nothing written).
        ``envelopes``: tasks that fit one wait as envelopes (on a streaming connection)."""
        queues: set[str] = set()  # the chunk being sent's, registered before its calls

        def batches() -> Iterator[list[Call]]:
            for chunk in chunks:
                queues.clear()
                queues.update(t.queue for t in chunk)
                calls = self._enqueue_many_calls(chunk, envelopes and self.transport.streams)
                if any(t.due_ms for t in chunk):
                    calls.append(self._mark_due_call(queues))
                yield calls

        try:
            replies = await self.transport.stream(batches(), lambda: self.register_queues(queues))
        except StreamStopped as stopped:
            raise incomplete_send(stopped) from stopped.cause
        existed: list[str] = []
        for conflicts in replies:
            if isinstance(conflicts, list):  # (a mark call answers a count)
                existed += [text(c) for c in conflicts]
        return existed

    # -- periodic tasks (processor/cron.py) ----------------------------------------------

    async def enqueue_tick(
        self, task: NewTask, entry_id: str, tick_ms: int, next_ms: int
    ) -> tuple[str, int | None]:
        """Write a periodic entry's task for one tick, unless any processor claimed the tick
        already. Returns ("written" | "existed" | "duplicate" | "refused", the entry's latest
        tick when refused)."""
        await self.register_queues((task.queue,))
        _, keys, args = self._enqueue_call(task)
        state = self.keys.cron_state(task.queue, entry_id)
        ticks = self.keys.cron_ticks(task.queue, entry_id)
        horizon = max(60_000, 10 * (next_ms - tick_ms))  # claims kept: ten ticks, at least 60 s
        args = (*args, tick_ms, next_ms, horizon)
        calls: list[Call] = [("cron_enqueue", (*keys, state, ticks), args)]
        if task.due_ms:  # the forwarder finds scheduled tasks through p:due
            calls.append(self._mark_due_call([task.queue]))
        result = (await self._call_many(calls))[0]
        if isinstance(result, list):
            if int(result[0]) == -2:
                return "refused", int(result[1])
            return "duplicate", None
        return ("written" if result == 1 else "existed"), None

    async def cron_last(self, entries: Sequence[tuple[str, str]]) -> list[int | None]:
        """The last tick enqueued for each (queue, entry id), None for one never run."""
        async with self.transport.guard():
            pipe = self.redis.pipeline(transaction=False)
            for queue, entry_id in entries:
                pipe.hget(self.keys.cron_state(queue, entry_id), "last")
            values = await pipe.execute()
        return [None if v is None else int(v) for v in values]

    async def register_cron(self, definitions: dict[str, str]) -> None:
        """Record periodic entries (id -> JSON) where listings find them."""
        if definitions:
            async with self.transport.guard():
                flat = [item for pair in definitions.items() for item in pair]
                await self.redis.hset(self.keys.cron_entries, items=flat)

    async def get(self, queue: str, task_id: str, *, pin: bool = False) -> TaskInfo | None:
        """The task; its tombstone (``forgotten``) once its data expired; else None. With
        ``pin``, a task waiting as an envelope is pinned (see find_envelope), so the next
        look-up is one read instead of a walk of the pending list."""
        qk = self.keys.queue(queue)
        async with self.transport.guard():
            raw = await self.redis.hgetall(qk.task(task_id))
        if not raw:  # more reads only for a task without a hash: waiting as an envelope?
            envelope = await self.find_envelope(queue, task_id, pin=pin)
            if envelope is not None:
                return envelope_info(queue, envelope)
            async with self.transport.guard():  # (leased while the list was read?)
                raw = await self.redis.hgetall(qk.task(task_id))
                if not raw:
                    tomb = await self.redis.get(qk.tombstone(task_id))
                    return tombstone_info(task_id, queue, tomb)
        return info_from_hash(task_id, queue, raw)

    async def find_envelope(self, queue: str, task_id: str, pin: bool = False) -> bytes | None:
        """The task's envelope if it waits as one (common/envelope.py), read stretch by
        stretch; with ``pin`` its hash is written, so scripts acting by id find it."""
        if not may_be_enveloped(task_id):
            return None
        start: int | bytes | None = 0
        while isinstance(start, int):
            reply = await self._call(*self._find_call(queue, task_id, start, pin))
            start = next_stretch(start, reply)
        return start

    async def _pinned(self, queue: str, task_id: str) -> bool:
        """After a script acting by id found no hash: pin the task if it waits as an
        envelope. True when the script is worth calling again: pinned, or not found because
        a lease took it out of the list meanwhile (and wrote its hash)."""
        if not may_be_enveloped(task_id):
            return False
        await self.find_envelope(queue, task_id, pin=True)
        return True

    # -- results, waiting and cancellation (docs/RESULTS.md) ------------------------------

    async def watch(self, queue: str, task_id: str) -> int:
        """Register a waiter on the task: WATCH_MISSING, WATCH_REGISTERED or WATCH_FINAL."""
        got = int(await self._call(*self._watch_call(queue, task_id)))
        if got == WATCH_MISSING and await self._pinned(queue, task_id):
            got = int(await self._call(*self._watch_call(queue, task_id)))
        return got

    async def wait_signal(self, queue: str, task_id: str, seconds: float) -> bool:
        """Block up to ``seconds`` for a token on the task's waiter list; True if one came.
        A token taken is put back, so every waiter of the task wakes (each re-reads it)."""
        key = self.keys.queue(queue).waiter(task_id)
        # a pool connection of its own for the blocking read; redis-py drops it if cancelled
        async with self.transport.guard(bounded=False), asyncio.timeout(seconds + self.timeout):
            got = await self.redis.blpop([key], timeout=seconds)
            if got is not None:
                await self.redis.lpush(key, b"1")
        return got is not None

    async def cancel(self, queue: str, task_id: str) -> str:
        """Run cancel.lua; returns one of CANCEL_REPLIES' names."""
        got = int(await self._call(*self._cancel_call(queue, task_id, now_ms())))
        if got == CANCEL_MISSING and await self._pinned(queue, task_id):
            got = int(await self._call(*self._cancel_call(queue, task_id, now_ms())))
        return CANCEL_REPLIES[got]

    async def finish_canceled(self, queue: str, task_id: str, owner: str, error: str) -> bool:
        """Record a running task stopped by cancel(); False if its lease was lost."""
        qk = self.keys.queue(queue)
        keys = (qk.active, qk.canceled, qk.task(task_id))
        return bool(await self._call("canceled", keys, (owner, task_id, now_ms(), error)))

    # -- operators' actions (tandemq/inspector) -------------------------------------------

    async def task_action(self, queue: str, task_id: str, action: str) -> tuple[int, str]:
        """Run, archive or delete one task (task_action.lua); returns (code, state it was in):
        1 done, 0 no such task, -1 refused in that state."""
        qk = self.keys.queue(queue)
        keys = (qk.pending, qk.scheduled, qk.retry, qk.archived, qk.completed, qk.task(task_id),
                qk.canceled)  # fmt: skip
        args = (action, task_id, now_ms(), self.keys.wake_channel, queue)
        code, state = await self._call("task_action", keys, args)
        if int(code) == 0 and await self._pinned(queue, task_id):
            code, state = await self._call("task_action", keys, args)
        return int(code), text(state)

    async def bulk_action(self, queue: str, source: TaskState, action: str, count: int) -> int:
        """Run, archive or delete up to ``count`` tasks of one state (bulk_action.lua);
        returns how many were taken from it (0: it is empty)."""
        qk = self.keys.queue(queue)
        key = qk.pending if source is TaskState.PENDING else getattr(qk, source.value)
        kind = "list" if source is TaskState.PENDING else "zset"
        args = (action, kind, count, now_ms(), qk.task_prefix, self.keys.wake_channel, queue)
        return int(await self._call("bulk_action", (key, qk.pending, qk.archived), args))

    async def peek(
        self, queue: str, task_ids: Sequence[str], preview: int, error_tail: int
    ) -> list[list[Any]]:
        """The listed fields of each task (peek.lua), one row of 13 per id."""
        if not task_ids:
            return []
        qk = self.keys.queue(queue)
        args = (qk.task_prefix, preview, error_tail, *task_ids)
        flat = await self._call("peek", (qk.pending,), args)  # the key routes to the slot
        return [flat[i : i + 13] for i in range(0, len(flat), 13)]
