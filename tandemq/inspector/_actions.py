"""The inspector's actions: run, archive or delete one task or a whole state, pause and
unpause a queue, delete a queue.

Bulk actions go through bulk_action.lua a chunk at a time: each call takes at most ``chunk``
tasks, so Redis is never blocked for long and this process holds only counts, whether the
state has ten tasks or ten million. They stop after the state's size at the start, so tasks
that keep arriving (a failing task coming back to retry) cannot keep one going forever.
"""

from __future__ import annotations

from collections.abc import Callable

from tandemq.common.clock import now_ms
from tandemq.common.cluster import node_of
from tandemq.common.errors import InvalidRequest, QueueNotEmpty, TaskNotFound, TaskStateError
from tandemq.common.task import TaskState

from ._reads import Store, queue_stats, text
from .models import Action, BulkResult

Progress = Callable[[int, int], None]  # (done so far, total at the start)

DEFAULT_CHUNK = 1000
_SCAN_COUNT = 1000

# Which states each action takes tasks from (the Lua scripts check the same for one task).
ALLOWED: dict[Action, frozenset[TaskState]] = {
    Action.RUN: frozenset({TaskState.SCHEDULED, TaskState.RETRY, TaskState.ARCHIVED}),
    Action.ARCHIVE: frozenset({TaskState.PENDING, TaskState.SCHEDULED, TaskState.RETRY}),
    Action.DELETE: frozenset(set(TaskState) - {TaskState.ACTIVE}),
}


def _refusal(action: Action, state: str) -> str:
    if state == TaskState.ACTIVE:
        return "it is running on a processor; act on it once it finished or failed"
    if state == TaskState.PENDING and action is Action.RUN:
        return "it is already pending: it runs as soon as a processor is free"
    if state == TaskState.ARCHIVED and action is Action.ARCHIVE:
        return "it is already archived"
    if state == TaskState.COMPLETED:
        return "it completed; send it again to run it again"
    return f"{action} does not apply to a {state} task"


async def task_action(store: Store, queue: str, task_id: str, action: Action) -> TaskState:
    """Apply ``action`` to one task; returns the state it was in."""
    code, state = await store.broker.task_action(queue, task_id, action.value)
    if code == 0:
        raise TaskNotFound(task_id, queue)
    if code < 0:
        raise TaskStateError(f"cannot {action} task {task_id!r}: {_refusal(action, state)}")
    return TaskState(state)


async def bulk(
    store: Store,
    queue: str,
    state: TaskState,
    action: Action,
    chunk: int = DEFAULT_CHUNK,
    on_progress: Progress | None = None,
    *,
    allow_active: bool = False,
) -> BulkResult:
    """Apply ``action`` to every task of ``state``, ``chunk`` tasks per script call."""
    if state not in ALLOWED[action] and not (allow_active and action is Action.DELETE):
        what = "tasks belong to the processors running them" if state is TaskState.ACTIVE else ""
        raise TaskStateError(
            f"cannot {action} every {state} task of {queue!r}"
            + (f": {what}" if what else f"; {action} takes {_names(ALLOWED[action])} tasks")
        )
    if chunk < 1:
        raise InvalidRequest(f"chunk must be at least 1, got {chunk}")
    (stats,) = await queue_stats(store, [queue])
    total = getattr(stats, state.value)
    done = 0
    if on_progress is not None:
        on_progress(0, total)
    while done < total:
        taken = await store.broker.bulk_action(queue, state, action.value, min(chunk, total - done))
        if taken == 0:
            break
        done += taken
        if on_progress is not None:
            on_progress(done, total)
    return BulkResult(queue=queue, state=state, action=action, done=done)


def _names(states: frozenset[TaskState]) -> str:
    return ", ".join(s.value for s in TaskState if s in states)


async def pause(store: Store, queue: str) -> None:
    await store.redis.set(store.keys.queue(queue).paused, now_ms())
    # the index processors read instead of every queue's flag (processor/pauses.py)
    await store.redis.sadd(store.keys.paused_queues, queue)


async def unpause(store: Store, queue: str) -> None:
    """Unpause, and wake idle processors so they fetch from it at once."""
    await store.redis.delete(store.keys.queue(queue).paused)
    await store.redis.srem(store.keys.paused_queues, queue)
    await store.redis.publish(store.keys.wake_channel, queue)


async def delete_queue(
    store: Store,
    queue: str,
    force: bool,
    chunk: int = DEFAULT_CHUNK,
    on_progress: Progress | None = None,
) -> int:
    """Delete a queue: refused (QueueNotEmpty) while it holds tasks, unless ``force``, which
    deletes its tasks state by state in chunks (active ones too: their processors' outcomes
    then find the lease gone), then every other key of the queue (SCAN), then its name.
    Returns how many tasks were deleted."""
    (stats,) = await queue_stats(store, [queue])
    if stats.size and not force:
        raise QueueNotEmpty(queue, stats.size)
    deleted = 0

    def progress(done: int, _total: int) -> None:
        if on_progress is not None:
            on_progress(deleted + done, stats.size)

    for state in TaskState:
        result = await bulk(store, queue, state, Action.DELETE, chunk, progress, allow_active=True)
        deleted += result.done
    await _sweep(store, queue)
    await store.redis.srem(store.keys.queues, queue)
    await store.redis.srem(store.keys.paused_queues, queue)
    return deleted


async def _sweep(store: Store, queue: str) -> None:
    """UNLINK what is left under the queue's tag: task hashes in no state (deleted
    underneath, or written mid-delete), unique locks, counters, the paused flag."""
    base = store.keys.queue(queue).base
    pattern = _glob_escape(base) + ":*"
    batch: list[str] = []
    # on a cluster, only the primary of the queue's slot: every key under its tag lives there
    async for key in store.redis.scan_iter(
        match=pattern, count=_SCAN_COUNT, **node_of(store.redis, base)
    ):
        batch.append(text(key))
        if len(batch) >= _SCAN_COUNT:
            await store.redis.unlink(*batch)
            batch = []
    if batch:
        await store.redis.unlink(*batch)


def _glob_escape(value: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in value)
