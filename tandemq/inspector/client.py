"""The Inspector: the library API the CLI and the dashboard share to see and operate queues.

Every method is a few round trips over counters, ranges and SCANs (never KEYS, never a whole
list or set); bulk actions work a chunk at a time. Errors: QueueNotFound, TaskNotFound,
TaskStateError, QueueNotEmpty (all InspectError), BrokerUnavailable when Redis cannot be
reached.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from types import TracebackType
from typing import Any, Self

from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.cron_registry import CronEntryInfo
from tandemq.common.errors import BrokerUnavailable, InvalidRequest, RedisPermissionDenied
from tandemq.common.keys import Keys
from tandemq.common.preflight import refuse_cluster_node
from tandemq.common.presence import ProcessorInfo
from tandemq.common.replies import lost_redis
from tandemq.common.settings import Settings
from tandemq.common.task import TaskState
from tandemq.distributor.core import CancelResult

from . import _actions, _cron_cancel, _reads
from ._actions import DEFAULT_CHUNK, Progress
from .models import Action, BulkResult, QueueHistory, QueueStats, TaskDetail, TaskPage


class Inspector:
    """See and operate tandemq's queues: ``async with Inspector.from_env() as i: ...``."""

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        prefix: str | None = None,
        redis: Redis | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or Settings.load(env=False, redis_url=redis_url, prefix=prefix)
        s = self.settings
        self._owns_redis = redis is None
        if redis is None:
            # TLS, ACL user, Sentinel, Cluster as configured. An operator's command must not
            # hang on a stalled Redis: bound every read (the processor does without, see
            # common/connection.py; a CLI has no such concern).
            options = replace(s.redis_options(), read_timeout=s.redis_timeout_seconds)
            redis = options.client()
        self.redis = redis
        keys = Keys(s.prefix)
        broker = Broker(self.redis, keys, timeout=s.redis_timeout_seconds)
        self._store = _reads.Store(self.redis, keys, broker)

    @classmethod
    def from_env(cls, **overrides: Any) -> Inspector:
        """Settings from the environment (REDIS_URL, TANDEMQ_PREFIX); keywords override."""
        return cls(settings=Settings.load(**overrides))

    async def __aenter__(self) -> Self:
        try:
            await self._store.broker.load_scripts()
            # on one cluster node it would see one shard's keys; no +info: not checked
            with contextlib.suppress(RedisPermissionDenied):
                refuse_cluster_node(await self._store.broker.server_info())
        except BaseException:
            await self.aclose()  # no __aexit__ follows a failed __aenter__
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._store.broker.aclose()
        if self._owns_redis:
            await self.redis.aclose()

    @contextlib.asynccontextmanager
    async def _redis(self) -> AsyncIterator[_reads.Store]:
        """The store, with redis-py's connection errors turned into BrokerUnavailable."""
        try:
            yield self._store
        except Exception as exc:
            if not lost_redis(exc):
                raise
            raise BrokerUnavailable(f"Redis unreachable: {exc}") from exc

    # -- queues ---------------------------------------------------------------------------

    async def queue_names(self) -> list[str]:
        """Every known queue (sent to, or listened on by a processor), sorted."""
        async with self._redis() as store:
            return await _reads.queue_names(store)

    async def queues(self) -> list[QueueStats]:
        """Every known queue with its sizes, paused flag, oldest pending age, today's counts."""
        async with self._redis() as store:
            return await _reads.queue_stats(store, await _reads.queue_names(store))

    async def queue(self, queue: str) -> QueueStats:
        """One queue's stats; QueueNotFound if it is not known."""
        async with self._redis() as store:
            await _reads.require_queue(store, queue)
            (stats,) = await _reads.queue_stats(store, [queue])
            return stats

    async def history(
        self, queue: str | None = None, *, minutes: int = 60, days: int = 30
    ) -> QueueHistory:
        """Processed and failed counts per minute and per UTC day, oldest first; ``queue=None``
        adds up every queue."""
        async with self._redis() as store:
            if queue is None:
                names = await _reads.queue_names(store)
            else:
                await _reads.require_queue(store, queue)
                names = [queue]
            per_minute, per_day = await _reads.history(store, names, minutes, days)
        return QueueHistory(queue=queue, per_minute=per_minute, per_day=per_day)

    async def pause(self, queue: str) -> None:
        """Every processor skips the queue within a second, until unpause; running tasks
        finish. Idempotent."""
        async with self._redis() as store:
            await _reads.require_queue(store, queue)
            await _actions.pause(store, queue)

    async def unpause(self, queue: str) -> None:
        async with self._redis() as store:
            await _reads.require_queue(store, queue)
            await _actions.unpause(store, queue)

    async def delete_queue(
        self,
        queue: str,
        *,
        force: bool = False,
        chunk: int = DEFAULT_CHUNK,
        on_progress: Progress | None = None,
    ) -> int:
        """Delete a queue. An empty one goes at once; one holding tasks raises QueueNotEmpty
        unless ``force``, which deletes every task in it (active ones too). Returns how many
        tasks were deleted."""
        async with self._redis() as store:
            await _reads.require_queue(store, queue)
            return await _actions.delete_queue(store, queue, force, chunk, on_progress)

    # -- tasks ----------------------------------------------------------------------------

    async def list_tasks(
        self, queue: str, state: TaskState | str, *, limit: int = 50, offset: int = 0
    ) -> TaskPage:
        """One page of a state's tasks: pending next-to-run first, scheduled and retry due
        first, active by lease, archived and completed newest first."""
        task_state = _state(state)
        if not 1 <= limit <= _reads.MAX_PAGE or offset < 0:
            raise InvalidRequest(f"limit must be 1..{_reads.MAX_PAGE} and offset >= 0")
        async with self._redis() as store:
            await _reads.require_queue(store, queue)
            return await _reads.list_tasks(store, queue, task_state, limit, offset)

    async def get_task(self, queue: str, task_id: str, *, pin: bool = False) -> TaskDetail:
        """Everything about one task; TaskNotFound if it is gone.

        A task sent on its own waits as an envelope, without a hash (DESIGN.md, "Envelopes"),
        and finding it walks its queue's pending list: about 0.2 s at 200,000 pending. A
        reader that looks again and again (the dashboard's task page, refreshed every 2 s)
        passes ``pin=True``: the task's hash is written and its place in the queue kept, so
        every later look-up is one read. Pinning writes to Redis; leave it off where the
        reader may only read."""
        async with self._redis() as store:
            await _reads.require_queue(store, queue)
            return await _reads.get_task(store, queue, task_id, pin=pin)

    async def task_action(self, queue: str, task_id: str, action: Action | str) -> TaskState:
        """Run, archive or delete one task; returns the state it was in. TaskNotFound, or
        TaskStateError when its state refuses the action (see Action)."""
        async with self._redis() as store:
            await _reads.require_queue(store, queue)
            return await _actions.task_action(store, queue, task_id, _action(action))

    async def run_task(self, queue: str, task_id: str) -> TaskState:
        """Scheduled, retry or archived -> pending now."""
        return await self.task_action(queue, task_id, Action.RUN)

    async def archive_task(self, queue: str, task_id: str) -> TaskState:
        """Pending, scheduled or retry -> archived."""
        return await self.task_action(queue, task_id, Action.ARCHIVE)

    async def delete_task(self, queue: str, task_id: str) -> TaskState:
        """Any state but active -> deleted (its unique lock released)."""
        return await self.task_action(queue, task_id, Action.DELETE)

    async def bulk_action(
        self,
        queue: str,
        state: TaskState | str,
        action: Action | str,
        *,
        chunk: int = DEFAULT_CHUNK,
        on_progress: Progress | None = None,
    ) -> BulkResult:
        """Apply ``action`` to every task of ``state``, ``chunk`` per script call;
        ``on_progress(done, total)`` after each chunk."""
        async with self._redis() as store:
            await _reads.require_queue(store, queue)
            return await _actions.bulk(
                store, queue, _state(state), _action(action), chunk, on_progress
            )

    async def run_all(
        self,
        queue: str,
        state: TaskState | str,
        *,
        chunk: int = DEFAULT_CHUNK,
        on_progress: Progress | None = None,
    ) -> BulkResult:
        """bulk_action with Action.RUN."""
        return await self.bulk_action(
            queue, state, Action.RUN, chunk=chunk, on_progress=on_progress
        )

    async def archive_all(
        self,
        queue: str,
        state: TaskState | str,
        *,
        chunk: int = DEFAULT_CHUNK,
        on_progress: Progress | None = None,
    ) -> BulkResult:
        """bulk_action with Action.ARCHIVE."""
        return await self.bulk_action(
            queue, state, Action.ARCHIVE, chunk=chunk, on_progress=on_progress
        )

    async def delete_all(
        self,
        queue: str,
        state: TaskState | str,
        *,
        chunk: int = DEFAULT_CHUNK,
        on_progress: Progress | None = None,
    ) -> BulkResult:
        """bulk_action with Action.DELETE."""
        return await self.bulk_action(
            queue, state, Action.DELETE, chunk=chunk, on_progress=on_progress
        )

    async def cancel_task(self, queue: str, task_id: str) -> CancelResult:
        """Cancel one task: "canceled" if it was pending, scheduled or retry (taken out now);
        "canceling" if it is running (its processor stops the handler and records it
        canceled); "finished" if it had already ended. TaskNotFound for an unknown id."""
        async with self._redis() as store:
            return await _cron_cancel.cancel_task(store, queue, task_id)

    # -- periodic entries -----------------------------------------------------------------

    async def cron_entries(self) -> list[CronEntryInfo]:
        """Every periodic entry a processor registered, with its last and next run."""
        async with self._redis() as store:
            return await _cron_cancel.cron_entries(store)

    # -- processors -----------------------------------------------------------------------

    async def processors(self) -> list[ProcessorInfo]:
        """Every live processor (its last heartbeat within a few heartbeat intervals)."""
        async with self._redis() as store:
            return await _reads.processors(store)


def _state(value: TaskState | str) -> TaskState:
    try:
        return TaskState(value)
    except ValueError:
        names = ", ".join(TaskState)
        raise InvalidRequest(f"unknown task state {value!r}; one of {names}") from None


def _action(value: Action | str) -> Action:
    try:
        return Action(value)
    except ValueError:
        names = ", ".join(Action)
        raise InvalidRequest(f"unknown action {value!r}; one of {names}") from None
