"""The inspector's reads: queue sizes, histories, pages of tasks, one task, live processors.

Only counters, ranges and SCANs: nothing reads a whole list or set, so a queue of millions
costs the same few round trips as an empty one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.clock import from_ms, now_ms
from tandemq.common.envelope import decode, is_envelope
from tandemq.common.errors import QueueNotFound, TaskNotFound
from tandemq.common.history import DAY_MS, MINUTE_MS, counter_keys, day_of, minute_of, split_counts
from tandemq.common.keys import Keys
from tandemq.common.presence import ProcessorInfo
from tandemq.common.task import Field, TaskState

from .models import HistoryPoint, QueueStats, TaskDetail, TaskPage, TaskSummary

PREVIEW_BYTES = 200  # payload shown per task in a list
ERROR_TAIL_BYTES = 600  # end of the traceback read per task in a list (its last line is shown)
MAX_PAGE = 1000
PROCESSOR_LOOKBACK_MS = 600_000  # heartbeats older than this are not even looked up

# How each state's page is ordered: what an operator wants to see first.
ORDER = {
    TaskState.PENDING: "next to run first",
    TaskState.ACTIVE: "lease running out first",
    TaskState.SCHEDULED: "due first",
    TaskState.RETRY: "due first",
    TaskState.ARCHIVED: "newest first",
    TaskState.COMPLETED: "newest first",
    TaskState.CANCELED: "newest first",
}


@dataclass(slots=True)
class Store:
    """What every read and action works on: a client, the key names, the script runner."""

    redis: Redis
    keys: Keys
    broker: Broker


def text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _int(value: Any) -> int:
    return int(value) if value else 0


def _time(value: Any) -> datetime | None:
    return from_ms(int(value)) if value else None


async def queue_names(store: Store) -> list[str]:
    """Every known queue (SSCAN of the queue set), sorted."""
    names = {text(n) async for n in store.redis.sscan_iter(store.keys.queues, count=1000)}
    return sorted(names)


async def require_queue(store: Store, queue: str) -> None:
    try:
        store.keys.queue(queue)
    except ValueError:
        raise QueueNotFound(queue) from None
    if not await store.redis.sismember(store.keys.queues, queue):
        raise QueueNotFound(queue)


async def queue_stats(store: Store, names: Sequence[str]) -> list[QueueStats]:
    """Sizes, paused flag, oldest pending age and today's counts: two pipelined round trips."""
    now = now_ms()
    pipe = store.redis.pipeline(transaction=False)
    for name in names:
        qk = store.keys.queue(name)
        pipe.llen(qk.pending)
        for zset in (qk.active, qk.scheduled, qk.retry, qk.archived, qk.completed, qk.canceled):
            pipe.zcard(zset)
        pipe.exists(qk.paused)
        pipe.lindex(qk.pending, -1)  # the consuming end: the next task to run
        # MGET as a command: a cluster pipeline refuses the mget method (the keys share a slot)
        pipe.execute_command("MGET", *counter_keys(store.keys, name, "d", [day_of(now)]))
    rows = await pipe.execute() if names else []
    width = 10
    oldest = [rows[i * width + 8] for i in range(len(names))]
    since = await _pending_since(store, names, oldest)
    stats = []
    for i, (name, start) in enumerate(zip(names, since, strict=True)):
        row = rows[i * width : (i + 1) * width]
        sizes = [int(n) for n in row[:7]]
        processed, failed = split_counts(row[9], 1)
        age = None if start is None else max(0.0, (now - start) / 1000)
        stats.append(_stats(name, sizes, bool(row[7]), age, processed[0], failed[0]))
    return stats


def _stats(
    name: str, sizes: list[int], paused: bool, age: float | None, processed: int, failed: int
) -> QueueStats:
    states = ("pending", "active", "scheduled", "retry", "archived", "completed", "canceled")
    return QueueStats(
        queue=name,
        **dict(zip(states, sizes, strict=True)),
        paused=paused,
        size=sum(sizes),
        oldest_pending_age=age,
        processed_today=processed,
        failed_today=failed,
    )


async def _pending_since(
    store: Store, names: Sequence[str], entries: list[Any]
) -> list[int | None]:
    """When each queue's next task became pending: its due time if it had one (scheduled,
    retried, run again), else when it was sent. ``entries`` are the pending lists' oldest
    entries: an envelope carries its own times, a bare id's are in its hash."""
    since: list[int | None] = [None] * len(names)
    asked = []
    for i, entry in enumerate(entries):
        if is_envelope(entry):
            fields = decode(entry)[1]
            since[i] = _since(fields.get(b"e"), fields.get(b"d"))
        elif entry:
            asked.append(i)
    pipe = store.redis.pipeline(transaction=False)
    for i in asked:
        pipe.hmget(store.keys.queue(names[i]).task(text(entries[i])), "e", "d")
    found = await pipe.execute() if asked else []
    for i, (enqueued, due) in zip(asked, found, strict=True):
        since[i] = _since(enqueued, due)
    return since


def _since(enqueued: Any, due: Any) -> int:
    return max(_int(enqueued), _int(due)) or now_ms()


async def history(store: Store, names: Sequence[str], minutes: int, days: int) -> tuple[
    list[HistoryPoint], list[HistoryPoint]
]:  # fmt: skip
    """Per-minute and per-day points, oldest first, added up over ``names``."""
    now = now_ms()
    minute_ix = list(range(minute_of(now) - minutes + 1, minute_of(now) + 1))
    day_ix = list(range(day_of(now) - days + 1, day_of(now) + 1))
    pipe = store.redis.pipeline(transaction=False)
    for name in names:  # one MGET per queue and bucket: a queue's counters share its slot
        pipe.execute_command("MGET", *counter_keys(store.keys, name, "m", minute_ix))
        pipe.execute_command("MGET", *counter_keys(store.keys, name, "d", day_ix))
    rows = await pipe.execute() if names else []
    per_minute = _points(minute_ix, MINUTE_MS, rows[0::2])
    per_day = _points(day_ix, DAY_MS, rows[1::2])
    return per_minute, per_day


def _points(indexes: list[int], unit_ms: int, rows: list[Any]) -> list[HistoryPoint]:
    processed = [0] * len(indexes)
    failed = [0] * len(indexes)
    for row in rows:
        p, f = split_counts(row, len(indexes))
        processed = [a + b for a, b in zip(processed, p, strict=True)]
        failed = [a + b for a, b in zip(failed, f, strict=True)]
    return [
        HistoryPoint(at=from_ms(i * unit_ms), processed=p, failed=f)
        for i, p, f in zip(indexes, processed, failed, strict=True)
    ]


async def page_entries(
    store: Store, queue: str, state: TaskState, limit: int, offset: int
) -> tuple[int, list[Any]]:
    """The state's size and one page of its entries, in ORDER's order: one round trip. An
    entry is a task id, or for a pending task an envelope (common/envelope.py)."""
    qk = store.keys.queue(queue)
    pipe = store.redis.pipeline(transaction=False)
    last = offset + limit - 1
    if state is TaskState.PENDING:
        pipe.llen(qk.pending)
        pipe.lrange(qk.pending, -(last + 1), -(offset + 1))
    else:
        key = getattr(qk, state.value)
        pipe.zcard(key)
        newest_first = state in (TaskState.ARCHIVED, TaskState.COMPLETED, TaskState.CANCELED)
        if newest_first:
            pipe.zrevrange(key, offset, last)
        else:
            pipe.zrange(key, offset, last)
    total, entries = await pipe.execute()
    if state is TaskState.PENDING:
        entries = entries[::-1] if offset < total else []
    return int(total), entries


async def list_tasks(
    store: Store, queue: str, state: TaskState, limit: int, offset: int
) -> TaskPage:
    total, entries = await page_entries(store, queue, state, limit, offset)
    ids = [text(e) for e in entries if not is_envelope(e)]  # tasks with a hash: peek.lua
    peeked = iter(await store.broker.peek(queue, ids, PREVIEW_BYTES, ERROR_TAIL_BYTES))
    tasks = []
    for entry in entries:
        task_id, row = _envelope_row(entry) if is_envelope(entry) else (text(entry), next(peeked))
        if row[0]:  # (a hash gone since the page was read)
            tasks.append(_summary(queue, task_id, row))
    return TaskPage(
        queue=queue, state=state, total=total, offset=offset, limit=limit,
        order=ORDER[state], tasks=tasks,
    )  # fmt: skip


# The fields of peek.lua's row, in its order (before the preview, the cut flag, the error).
_PEEK_FIELDS = tuple(
    name.encode()
    for name in (Field.TYPE, Field.STATE, Field.RETRIED, Field.MAX_RETRY, Field.ENQUEUED,
                 Field.DUE, Field.FAILED, Field.DONE, Field.DEADLINE, Field.OWNER)
)  # fmt: skip


def _envelope_row(entry: bytes) -> tuple[str, list[Any]]:
    """An envelope's id and its row as peek.lua would give it for the task's hash (the
    payload cut the same way), so a page shows a task alike however it waits."""
    task_id, fields = decode(entry)
    payload = fields[Field.PAYLOAD.encode()]
    row: list[Any] = [fields.get(name) for name in _PEEK_FIELDS]
    cut = b"1" if len(payload) > PREVIEW_BYTES else b"0"
    return task_id, [*row, payload[:PREVIEW_BYTES], cut, fields.get(Field.ERROR.encode())]


def _summary(queue: str, task_id: str, row: list[Any]) -> TaskSummary:
    type_, state, retried, max_retry, enq, due, failed, done, deadline, owner = row[:10]
    preview, cut, error = row[10:]
    try:
        task_state = TaskState(text(state)) if state else TaskState.PENDING
    except ValueError:
        task_state = TaskState.PENDING
    return TaskSummary(
        id=task_id, queue=queue, state=task_state, type=text(type_),
        payload_preview=text(preview), payload_truncated=text(cut) == "1",
        retried=_int(retried), max_retry=_int(max_retry),
        error=_last_line(text(error)) if error else None,
        enqueued_at=_time(enq), next_process_at=_time(due), failed_at=_time(failed),
        completed_at=_time(done), deadline=_time(deadline),
        processor=text(owner) if owner else None,
    )  # fmt: skip


def _last_line(error: str) -> str:
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


async def get_task(store: Store, queue: str, task_id: str, pin: bool = False) -> TaskDetail:
    qk = store.keys.queue(queue)
    info = await store.broker.get(queue, task_id, pin=pin)
    pipe = store.redis.pipeline(transaction=False)
    pipe.hmget(qk.task(task_id), "o", "oa", "u")
    for zset in (qk.active, qk.archived, qk.completed):
        pipe.zscore(zset, task_id)
    (owner, by_operator, lock), lease, archived, expires = await pipe.execute()
    if info is None:
        raise TaskNotFound(task_id, queue)
    started = info.state in (TaskState.ACTIVE, TaskState.COMPLETED) or (
        info.state is TaskState.ARCHIVED and info.last_error is not None and not by_operator
    )
    return TaskDetail(
        **info.model_dump(),
        attempts=info.retried + (1 if started else 0),
        processor=text(owner) if owner else None,
        lease_expires_at=_time(lease),
        archived_at=_time(archived),
        archived_by_operator=bool(by_operator),
        expires_at=_time(expires),
        unique_lock=text(lock) if lock else None,
    )


async def processors(store: Store) -> list[ProcessorInfo]:
    """Every processor whose record is still alive (its TTL is a few heartbeats)."""
    now = now_ms()
    ids = await store.redis.zrangebyscore(
        store.keys.processors, now - PROCESSOR_LOOKBACK_MS, "+inf"
    )
    pipe = store.redis.pipeline(transaction=False)
    for processor_id in ids:
        pipe.get(store.keys.processor(text(processor_id)))
    found = []
    for raw in await pipe.execute() if ids else []:
        if raw:
            try:
                found.append(ProcessorInfo.model_validate_json(raw))
            except ValidationError:
                continue  # written by another version: not ours to show
    return sorted(found, key=lambda p: (p.host, p.started_at, p.id))
