"""The only module that changes task state in Redis: typed async methods over the Lua scripts.

Every method is one script call per queue touched, or one pipelined round trip for several
queues. Connection failures surface as ``BrokerUnavailable`` so callers handle one error type.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, NoScriptError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .clock import now_ms
from .errors import (
    BrokerUnavailable,
    DuplicateTask,
    OutcomeUnknown,
    SendManyIncomplete,
    TandemqError,
    TaskIdConflict,
)
from .keys import Keys
from .replies import maybe_sent, raised_error, typed_reply
from .scripts import SCRIPTS
from .task import DEQUEUE_FIELDS, Field, TaskInfo, TaskMessage, TaskState
from .wire import Wire, WireDown, WireLost, pack

_PIPELINE = 10  # script calls per round trip in enqueue_many
_BATCH = 1000  # most tasks one forward/recover/trim call moves; keeps each script short
_CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)

Call = tuple[str, Sequence[str], Sequence[Any]]  # script name, KEYS, ARGV


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


class _Interrupted(Exception):
    """A streamed enqueue lost its connection; ``calls`` must be sent again."""

    def __init__(self, calls: list[Call]) -> None:
        super().__init__(f"{len(calls)} calls to repeat")
        self.calls = calls


class Broker:
    """Task storage on one Redis client, under one key prefix.

    Script calls go over a pipelining connection of the broker's own (common/wire.py) and,
    when there is none or it fails, through the redis-py client, which reconnects and retries.
    """

    def __init__(self, redis: Redis, keys: Keys, timeout: float = 5.0) -> None:
        self.redis = redis
        self.keys = keys
        self.timeout = timeout  # bound on one round trip: a stalled connection must not hang us
        self._known_queues: set[str] = set()
        self.wire = Wire.for_pool(redis.connection_pool)

    async def aclose(self) -> None:
        """Close the broker's own connection (the redis-py client is the caller's)."""
        if self.wire is not None:
            await self.wire.aclose()

    # -- plumbing -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _guard(self, bounded: bool = True) -> AsyncIterator[None]:
        """Bound a round trip by ``timeout`` (unless the caller bounds each step itself) and
        turn every connection failure into BrokerUnavailable, the one error callers handle."""
        try:
            async with asyncio.timeout(self.timeout if bounded else None):
                yield
        except (AuthenticationError, ResponseError) as exc:
            raise raised_error(exc) from exc
        except (TimeoutError, *_CONNECTION_ERRORS) as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: BaseException) -> BrokerUnavailable | TandemqError:
        """The error for a failed round trip: OutcomeUnknown when the commands may have
        reached Redis (see common/replies.py), else BrokerUnavailable (they did not)."""
        if isinstance(exc, AuthenticationError):
            return raised_error(exc)
        kind = OutcomeUnknown if maybe_sent(exc) else BrokerUnavailable
        if isinstance(exc, TimeoutError):
            return kind(f"Redis did not answer within {self.timeout:g}s")
        return kind(f"Redis unreachable: {exc}")

    async def load_scripts(self) -> None:
        """SCRIPT LOAD every script (idempotent); done up front and again after NOSCRIPT."""
        async with self._guard():
            await self._load_scripts()

    async def _load_scripts(self) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for script in SCRIPTS.values():
            pipe.script_load(script.source)
        await pipe.execute()

    async def _call(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return (await self._call_many([(name, keys, args)]))[0]

    async def _call_many(self, calls: Sequence[Call], resend: bool = True) -> list[Any]:
        """Run script calls in one pipelined round trip; raise the first call's error."""
        results = await self._run(calls, resend)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    async def _run(self, calls: Sequence[Call], resend: bool = True) -> list[Any]:
        """One pipelined round trip; a failed call's result is its exception (NOSCRIPT is
        handled here by loading the scripts and repeating those calls once). Each step is
        bounded on its own; failures become BrokerUnavailable as in _guard, which is not used
        here because a context manager on the hot path of every send costs measurably.
        ``resend=False``: calls that may have run on a connection that then failed are not
        sent again (BrokerUnavailable instead), for calls whose repeat is not harmless."""
        try:
            results = await self._round_trip(calls, resend)
            redo = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
            if redo:
                async with asyncio.timeout(self.timeout):
                    await self._load_scripts()
                again = await self._round_trip([calls[i] for i in redo], resend)
                for i, result in zip(redo, again, strict=True):
                    results[i] = result
        except (TimeoutError, *_CONNECTION_ERRORS) as exc:
            raise self._unavailable(exc) from exc
        if any(isinstance(r, ResponseError) for r in results):
            return [typed_reply(r) for r in results]
        return results

    async def _round_trip(self, calls: Sequence[Call], resend: bool = True) -> list[Any]:
        """The calls on the wire, or through redis-py when the wire failed. Sending a call
        again is safe for most scripts: one that had run finds its work done (an enqueue
        reports its id as existing, which send() takes as its own earlier attempt). Not for
        dequeue: a second one leases other tasks while the first one's are held by nobody
        (see Broker.dequeue), so ``resend=False`` raises instead."""
        lost: WireLost | None = None
        if self.wire is not None:
            try:
                return await self.wire.call_many([_evalsha(c) for c in calls], self.timeout)
            except WireDown:
                pass  # nothing was sent: sending through redis-py is a first try
            except WireLost as exc:
                if not resend:
                    raise
                lost = exc  # the calls may have run: if the resend fails too, say so
        try:
            async with asyncio.timeout(self.timeout):
                return await self._pipeline(calls)
        except (TimeoutError, *_CONNECTION_ERRORS) as exc:
            if lost is not None:
                raise exc from lost
            raise

    async def _pipeline(self, calls: Sequence[Call]) -> list[Any]:
        """The calls through redis-py (reconnects and retries on a dropped connection)."""
        if len(calls) == 1:
            name, keys, args = calls[0]
            try:
                return [await self.redis.evalsha(SCRIPTS[name].sha, len(keys), *keys, *args)]
            except ResponseError as exc:  # NOSCRIPT, OOM, ...: handled as in a pipeline
                return [exc]
        pipe = self.redis.pipeline(transaction=False)
        for name, keys, args in calls:
            pipe.evalsha(SCRIPTS[name].sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))

    async def register_queues(self, queues: Iterable[str]) -> None:
        """Add queue names to the global set read by inspection tools (once per name)."""
        new = [q for q in queues if q not in self._known_queues]
        if not new:
            return
        async with self._guard():
            await self.redis.sadd(self.keys.queues, *new)
        self._known_queues.update(new)

    # -- the distributor's side -----------------------------------------------------------

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
            raise DuplicateTask(task.type, task.queue, _text(result[1]) or None)

    async def enqueue(self, task: NewTask) -> None:
        """Write one task. Raises TaskIdConflict, DuplicateTask or BrokerUnavailable.

        Concurrent calls share round trips (the wire pipelines them)."""
        await self.register_queues((task.queue,))
        # _run directly, not _call: two coroutine frames fewer on every send's path
        result = (await self._run([self._enqueue_call(task)]))[0]
        if isinstance(result, Exception):
            raise result
        self._check_enqueued(task, result)

    async def enqueue_many(self, tasks: Sequence[NewTask]) -> list[str]:
        """Write many tasks: one script call per chunk of tasks that share their queue and
        options (all but id, type and payload). Returns the ids that already existed and were
        left as they were (the others were written)."""
        return await self.enqueue_chunks([tasks])

    async def enqueue_chunks(self, chunks: Iterable[Sequence[NewTask]]) -> list[str]:
        """enqueue_many for tasks produced chunk by chunk: each chunk's script calls are
        written to one connection as soon as the chunk is built, and the replies are read at
        the end. Redis runs chunk k while the caller builds chunk k+1, so their work overlaps
        instead of adding up, and one connection keeps the chunks in order.

        If that connection fails, every call is sent again through the retrying path: a task
        that had landed comes back as existing (enqueue_many.lua skips it), so none is
        written twice. Returns the ids that already existed.

        A failure part-way raises SendManyIncomplete with the ids written, not written and
        unknown; one before anything was written raises its own error (nothing written)."""
        try:
            replies = await self._stream(chunks)
        except _Interrupted as interrupted:
            calls, replies = interrupted.calls, []
            for start in range(0, len(calls), _PIPELINE):
                batch = calls[start : start + _PIPELINE]
                try:
                    results = await self._run(batch)
                except BrokerUnavailable as exc:
                    unknown = len(batch) if isinstance(exc, OutcomeUnknown) else 0
                    raise _incomplete(calls, replies, exc, unknown) from exc
                replies += results
                _raise_failed(calls, replies)
        existed: list[str] = []
        for conflicts in replies:
            existed += [_text(c) for c in conflicts]
        return existed

    async def _stream(self, chunks: Iterable[Sequence[NewTask]]) -> list[Any]:
        """Write each chunk's calls on the wire as it comes, then read every reply.
        Raises _Interrupted, with every call (the chunks all consumed), when Redis cannot be
        reached that way."""
        calls: list[Call] = []
        chunks = iter(chunks)
        try:
            if self.wire is None:
                raise WireLost("no wire for this connection kind")
            # Each write and each reply is bounded, not the whole stream: a million tasks take
            # longer than one round trip may.
            async with self._guard(bounded=False):
                stream = await self.wire.stream()
                for chunk in chunks:
                    await self.register_queues({t.queue for t in chunk})
                    batch = self._enqueue_many_calls(chunk)
                    calls += batch
                    await stream.send([_evalsha(call) for call in batch], self.timeout)
                replies = await stream.replies()
        except (BrokerUnavailable, WireLost) as exc:
            rest = [call for chunk in chunks for call in self._enqueue_many_calls(chunk)]
            raise _Interrupted(calls + rest) from exc
        replies = await self._settled(calls, replies)
        _raise_failed(calls, replies)
        return replies

    async def _settled(self, calls: Sequence[Call], replies: list[Any]) -> list[Any]:
        """Repeat the NOSCRIPT calls (the scripts are loaded first); type OOM errors."""
        redo = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if redo:
            for i, result in zip(redo, await self._run([calls[i] for i in redo]), strict=True):
                replies[i] = result
        return [typed_reply(r) for r in replies]

    def _enqueue_many_calls(self, tasks: Sequence[NewTask]) -> list[Call]:
        if any(t.unique_ttl_ms for t in tasks):
            raise ValueError("enqueue_many does not take unique tasks: send them with enqueue")
        groups: dict[tuple[Any, ...], list[NewTask]] = {}
        for t in tasks:  # one group per set of shared fields (see _fields)
            shared = (t.queue, t.due_ms, t.max_retry, t.enqueued_ms, t.timeout_ms,
                      t.deadline_ms, t.retention_ms)  # fmt: skip
            groups.setdefault(shared, []).append(t)
        return [
            self._enqueue_many_call(group[start : start + _BATCH])
            for group in groups.values()
            for start in range(0, len(group), _BATCH)
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

    async def get(self, queue: str, task_id: str) -> TaskInfo | None:
        async with self._guard():
            raw = await self.redis.hgetall(self.keys.queue(queue).task(task_id))
        if not raw:
            return None
        fields = {_text(k): v if isinstance(v, bytes) else v.encode() for k, v in raw.items()}
        _join_payload(fields)
        # errors="replace": a corrupt task must still be shown, not make get_task fail
        text = {k: v.decode(errors="replace") for k, v in fields.items()}
        return TaskInfo.from_hash(task_id, queue, text)

    # -- the processor's side -------------------------------------------------------------

    async def dequeue(
        self, counts: dict[str, int], owner: str, lease_ms: int
    ) -> tuple[dict[str, list[TaskMessage]], list[tuple[str, str]]]:
        """Lease up to ``counts[q]`` pending tasks of each queue, in one round trip.

        Returns the tasks taken per queue, and (queue, id) of ids whose data was missing.
        Not sent again when the connection fails under it (BrokerUnavailable instead): if the
        script had run, its tasks are leased to ``owner`` yet held by no one; ``reclaim``
        gives them back to pending, so they neither wait for their lease to expire nor have
        that counted as a failed attempt.
        """
        wanted = [(q, n) for q, n in counts.items() if n > 0]
        now = now_ms()
        calls: list[Call] = []
        for queue, n in wanted:
            qk = self.keys.queue(queue)
            keys = (qk.pending, qk.active, qk.archived)
            calls.append(("dequeue", keys, (n, now + lease_ms, owner, qk.task_prefix, now)))
        taken: dict[str, list[TaskMessage]] = {}
        missing: list[tuple[str, str]] = []
        width = 1 + len(DEQUEUE_FIELDS)
        results = await self._call_many(calls, resend=False)
        for (queue, _), flat in zip(wanted, results, strict=True):
            tasks = taken.setdefault(queue, [])
            for i in range(0, len(flat), width):
                task = _message(queue, flat[i : i + width])
                if task is None:
                    missing.append((queue, _text(flat[i])))
                else:
                    tasks.append(task)
        return taken, missing

    async def ack(self, owner: str, done: dict[str, list[str]]) -> list[tuple[str, str]]:
        """Acknowledge finished tasks, per queue; returns (queue, id) whose lease was lost."""
        now = now_ms()
        calls: list[Call] = []
        queues = [q for q, ids in done.items() if ids]
        for queue in queues:
            qk = self.keys.queue(queue)
            calls.append(
                ("ack", (qk.active, qk.completed), (owner, now, qk.task_prefix, *done[queue]))
            )
        results = await self._call_many(calls) if calls else []
        return [(q, _text(i)) for q, lost in zip(queues, results, strict=True) for i in lost]

    async def retry(self, queue: str, task_id: str, owner: str, due_ms: int, error: str) -> bool:
        """Move a failed task to retry; False if its lease was lost."""
        qk = self.keys.queue(queue)
        keys = (qk.active, qk.retry, qk.task(task_id))
        return bool(await self._call("retry", keys, (owner, task_id, now_ms(), due_ms, error)))

    async def archive(self, queue: str, task_id: str, owner: str, error: str) -> bool:
        """Archive a task; False if its lease was lost."""
        qk = self.keys.queue(queue)
        keys = (qk.active, qk.archived, qk.task(task_id))
        return bool(await self._call("archive", keys, (owner, task_id, now_ms(), error)))

    async def requeue(self, owner: str, held: dict[str, list[str]]) -> int:
        """Give held tasks back to the front of pending, uncounted; returns how many."""
        calls: list[Call] = []
        for queue, ids in held.items():
            if ids:
                qk = self.keys.queue(queue)
                args = (owner, qk.task_prefix, self.keys.wake_channel, queue, *ids)
                calls.append(("requeue", (qk.active, qk.pending), args))
        return sum(await self._call_many(calls)) if calls else 0

    async def reclaim(self, queues: Sequence[str], owner: str, held: dict[str, list[str]]) -> int:
        """Give back to pending, uncounted, the tasks leased to ``owner`` that it does not
        hold (a dequeue whose reply was lost); returns how many."""
        calls: list[Call] = []
        now = now_ms()
        for queue in queues:
            qk = self.keys.queue(queue)
            args = (owner, qk.task_prefix, self.keys.wake_channel, queue, now, *held.get(queue, ()))
            calls.append(("reclaim", (qk.active, qk.pending), args))
        return sum(await self._call_many(calls)) if calls else 0

    async def extend(
        self, owner: str, held: dict[str, list[str]], lease_ms: int
    ) -> list[tuple[str, str]]:
        """Extend leases of running tasks; returns (queue, id) no longer leased to ``owner``."""
        deadline = now_ms() + lease_ms
        queues = [q for q, ids in held.items() if ids]
        calls: list[Call] = []
        for queue in queues:
            qk = self.keys.queue(queue)
            calls.append(("extend", (qk.active,), (owner, deadline, qk.task_prefix, *held[queue])))
        results = await self._call_many(calls) if calls else []
        return [(q, _text(i)) for q, lost in zip(queues, results, strict=True) for i in lost]

    async def forward(self, queues: Sequence[str]) -> int | None:
        """Move due scheduled and retry tasks to pending; returns the next due time (ms) or None."""
        now = now_ms()
        pending = list(queues)
        earliest: dict[tuple[str, int], int] = {}  # (queue, set) -> its earliest due left
        while pending:
            calls: list[Call] = []
            for queue in pending:
                qk = self.keys.queue(queue)
                args = (now, _BATCH, qk.task_prefix, self.keys.wake_channel, queue)
                calls.append(("forward", (qk.scheduled, qk.pending), args))
                calls.append(("forward", (qk.retry, qk.pending), args))
            results = await self._call_many(calls)
            full = set()
            for i, (moved, first) in enumerate(results):
                if moved == _BATCH:
                    full.add(pending[i // 2])
                earliest[(pending[i // 2], i % 2)] = int(float(first))  # the latest round's
            pending = [q for q in pending if q in full]
        left = [due for due in earliest.values() if due >= 0]
        return min(left) if left else None

    async def recover(self, queues: Sequence[str], error: str) -> tuple[list[str], list[str]]:
        """Take back tasks with expired leases; returns (ids to retry, ids archived)."""
        now = now_ms()
        calls: list[Call] = []
        for queue in queues:
            qk = self.keys.queue(queue)
            keys = (qk.active, qk.retry, qk.archived)
            calls.append(("recover", keys, (now, _BATCH, qk.task_prefix, error)))
        retried: list[str] = []
        archived: list[str] = []
        for to_retry, to_archive in await self._call_many(calls):
            retried += [_text(i) for i in to_retry]
            archived += [_text(i) for i in to_archive]
        return retried, archived

    async def trim(
        self, queues: Sequence[str], archive_max_size: int, archive_max_age_ms: int
    ) -> int:
        """Delete expired completed tasks and archived tasks past the limits; returns count."""
        now = now_ms()
        calls: list[Call] = []
        for queue in queues:
            qk = self.keys.queue(queue)
            args = (now, now - archive_max_age_ms, archive_max_size, qk.task_prefix, _BATCH)
            calls.append(("trim", (qk.completed, qk.archived), args))
        return sum(await self._call_many(calls))

    # -- task types live processors handle (rolling deploys: processor/known_types.py) ----

    async def announce_types(self, types: Sequence[str], now: int) -> None:
        """Record that a live processor handles ``types``, as of ``now`` (ms)."""
        if types:
            async with self._guard():
                await self.redis.hset(self.keys.types, mapping=dict.fromkeys(types, now))

    async def type_seen(self, type_name: str) -> int | None:
        """When a processor last announced it handles ``type_name`` (ms), or None."""
        async with self._guard():
            seen = await self.redis.hget(self.keys.types, type_name)
        return int(seen) if seen is not None else None

    async def memory_policy(self) -> str | None:
        """Redis' maxmemory-policy, from INFO memory (None when it does not say)."""
        async with self._guard():
            info = await self.redis.info("memory")
        policy = info.get("maxmemory_policy")
        return _text(policy) if policy is not None else None

    async def defer(self, queue: str, task_id: str, owner: str, due_ms: int) -> bool:
        """Put a leased task back, due at ``due_ms``, uncounted; False if its lease was lost."""
        qk = self.keys.queue(queue)
        keys = (qk.active, qk.scheduled, qk.task(task_id))
        return bool(await self._call("defer", keys, (owner, task_id, due_ms)))


def _raise_failed(calls: Sequence[Call], replies: Sequence[Any]) -> None:
    """Raise for the first error among enqueue_many replies (see _incomplete)."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise _incomplete(calls, replies, reply, 0)


def _incomplete(
    calls: Sequence[Call], replies: Sequence[Any], cause: Exception, unknown: int
) -> Exception:
    """What a send_many stopped part-way did: the calls with a reply are written (or were
    refused, given an error reply); the next ``unknown`` calls may have run; the rest were not
    sent. The plain ``cause`` when nothing was written and nothing is unknown."""
    written: list[str] = []
    not_written: list[str] = []
    for call, reply in zip(calls, replies, strict=False):
        (not_written if isinstance(reply, Exception) else written).extend(_call_ids(call))
    rest = calls[len(replies) :]
    maybe = [i for call in rest[:unknown] for i in _call_ids(call)]
    not_written += [i for call in rest[unknown:] for i in _call_ids(call)]
    if not written and not maybe:
        return cause
    return SendManyIncomplete(cause, written, not_written, maybe)


def _call_ids(call: Call) -> list[str]:
    """The task ids of an enqueue_many call: its ARGV after the shared fields, each
    ``id \x1f type \x1f payload`` (see _enqueue_many_call)."""
    args = call[2]
    first = 5 + int(args[4])
    return [bytes(a).split(b"\x1f", 1)[0].decode() for a in args[first:]]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _optional_int(value: Any) -> int | None:
    return int(value) if value else None


def _message(queue: str, row: Sequence[Any]) -> TaskMessage | None:
    """A dequeued row as a TaskMessage; None when the hash was gone. Fields that cannot be
    read give a message marked corrupt, which the processor archives with that reason."""
    task_id, type_, payload, retried, max_retry, timeout, deadline, enqueued = row
    if type_ is None:
        return None
    if not type_:
        return _corrupt(queue, task_id, "", "task hash has no type field")
    try:
        return TaskMessage(
            id=_text(task_id),
            queue=queue,
            type=_text(type_),
            payload=payload or b"",
            retried=int(retried or 0),
            max_retry=int(max_retry or 0),
            timeout_ms=_optional_int(timeout),
            deadline_ms=_optional_int(deadline),
            enqueued_ms=int(enqueued or 0),
        )
    except (ValueError, UnicodeDecodeError) as exc:
        type_text = bytes(type_).decode(errors="replace")
        return _corrupt(queue, task_id, type_text, f"unreadable task fields: {exc}")


def _corrupt(queue: str, task_id: Any, type_: str, why: str) -> TaskMessage:
    """A message the processor archives with ``why`` instead of running it."""
    return TaskMessage(
        id=_text(task_id), queue=queue, type=type_, payload=b"", retried=0, max_retry=0,
        timeout_ms=None, deadline_ms=None, enqueued_ms=0, corrupt=why,
    )  # fmt: skip


def _evalsha(call: Call) -> bytes:
    name, keys, args = call
    return pack(["EVALSHA", SCRIPTS[name].sha, len(keys), *keys, *args])


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
