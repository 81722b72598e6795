"""Turns the end of a handler call into ack, retry or archive.

Acks are batched: completions collect while the previous ack call is in flight, and go in one
script call per queue. Retries and archives are written at once. Every write goes through
``_write``: the one place that hands a write to the syncer when Redis is away and that stops
renewing the lease once the write has landed or found the lease lost.
"""

from __future__ import annotations

import asyncio
import traceback
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

from tandemq.common.broker import Broker
from tandemq.common.clock import now_ms, span_ms
from tandemq.common.errors import (
    CorruptTask,
    DeadlineExceeded,
    InvalidPayload,
    InvalidResult,
    RetryIn,
    SkipRetry,
    TaskCanceled,
    UnknownTaskType,
)
from tandemq.common.logging import failure_event, get_logger
from tandemq.common.task import TaskInfo, TaskMessage

from .counts import Counts
from .known_types import KnownTypes
from .leases import Leases
from .retry import RetryDelay
from .syncer import Syncer

# Failures that no later attempt can fix: archived at once, whatever retries are left.
FINAL_ERRORS = (
    SkipRetry, UnknownTaskType, InvalidPayload, CorruptTask, DeadlineExceeded, InvalidResult,
)  # fmt: skip
MAX_ERROR_CHARS = 8192


def error_text(exc: BaseException) -> str:
    """The traceback as kept in last_error: the tail, where the raise happened, if long."""
    text = "".join(traceback.format_exception(exc)).strip()
    return text if len(text) <= MAX_ERROR_CHARS else "...\n" + text[-MAX_ERROR_CHARS:]


class OutcomeObserver(Protocol):
    """Told how each attempt ended (metrics); called on the loop, must not block or raise."""

    def succeeded(self, task: TaskMessage, ms: float) -> None: ...
    def was_retried(self, task: TaskMessage, ms: float) -> None: ...
    def was_archived(self, task: TaskMessage, ms: float) -> None: ...


class Outcome:
    def __init__(
        self,
        *,
        broker: Broker,
        owner: str,
        leases: Leases,
        syncer: Syncer,
        retry_delay: RetryDelay,
        known_types: KnownTypes | None = None,
        counts: Counts | None = None,
        observer: OutcomeObserver | None = None,
    ) -> None:
        self._counts = counts  # processed / failed per queue, for the inspector's history
        self._broker = broker
        self._known_types = known_types
        self._owner = owner
        self._leases = leases
        self._syncer = syncer
        self._retry_delay = retry_delay
        self._observer = observer
        self._acks: list[TaskMessage] = []
        self._results: list[tuple[TaskMessage, bytes]] = []  # acks that store a result
        self._ack_ready = asyncio.Event()
        self._acking = 0
        self._flush_lock = asyncio.Lock()
        self._log = get_logger(__name__)

    def succeeded(self, task: TaskMessage, ms: float, result: bytes | None = None) -> None:
        """Queue the ack; the flusher sends it with whatever else finished meanwhile.
        ``result``: the handler's return value as JSON, stored with the task."""
        if result is None:
            self._acks.append(task)
        else:
            self._results.append((task, result))
        self._ack_ready.set()
        if self._counts is not None:
            self._counts.finished(task.queue, failed=False)
        if self._observer is not None:
            self._observer.succeeded(task, ms)
        self._log.info("task.succeeded", **_fields(task), ms=round(ms, 2))

    async def failed(self, task: TaskMessage, exc: BaseException, ms: float) -> None:
        if isinstance(exc, UnknownTaskType) and self._known_types is not None:
            due = await self._known_types.defer_until(task)
            if due is not None:
                await self._defer(task, due)
                return
            exc = self._known_types.final_error(exc)
        text = error_text(exc)
        if self._counts is not None:
            self._counts.finished(task.queue, failed=True)
        if isinstance(exc, FINAL_ERRORS) or task.retried >= task.max_retry:
            if self._observer is not None:
                self._observer.was_archived(task, ms)
            await self._write(
                task, lambda: self._broker.archive(task.queue, task.id, self._owner, text)
            )
            reason = type(exc).__name__ if isinstance(exc, FINAL_ERRORS) else "retries exhausted"
            self._log.error(
                "task.archived",
                **_fields(task),
                ms=round(ms, 2),
                reason=reason,
                error=_short(exc),
            )
            return
        delay = exc.delay if isinstance(exc, RetryIn) else self._delay(task, exc)
        due = now_ms() + span_ms(delay)  # _delay returns a timedelta whatever the policy did
        if self._observer is not None:
            self._observer.was_retried(task, ms)
        await self._write(
            task, lambda: self._broker.retry(task.queue, task.id, self._owner, due, text)
        )
        self._log.warning(
            "task.retry",
            **_fields(task),
            ms=round(ms, 2),
            delay_ms=span_ms(delay),
            error=_short(exc),
        )

    async def _defer(self, task: TaskMessage, due: int) -> None:
        """Another processor may know this type (rolling deploy): back, uncounted, for it."""
        await self._write(task, lambda: self._broker.defer(task.queue, task.id, self._owner, due))
        self._log.warning("task.deferred", **_fields(task), reason="unknown type", due_ms=due)

    async def canceled(self, queue: str, task_id: str, type_: str) -> None:
        """cancel() stopped the task's handler (Running.cancel): record it canceled, not
        retried. Written here, not by the runner: it writes no outcome for a revoked task."""
        # what _write uses of a task: its queue and id (the lease), its type (the log)
        task = TaskMessage(task_id, queue, type_, b"", 0, 0, None, None, 0)
        why = f"{TaskCanceled.__name__}: canceled by cancel() while it ran"
        await self._write(
            task, lambda: self._broker.finish_canceled(queue, task_id, self._owner, why)
        )
        self._log.warning("task.canceled", task_id=task_id, type=type_, queue=queue)

    def _delay(self, task: TaskMessage, exc: BaseException) -> timedelta:
        try:
            delay = self._retry_delay(task.retried, exc, TaskInfo.of_running(task))
            if not isinstance(delay, timedelta) or delay < timedelta(0):
                raise TypeError(f"retry_delay must return a timedelta >= 0, got {delay!r}")
            return delay
        except Exception as policy_error:  # a broken policy must not lose the task
            self._log.error("retry_delay.failed", **_fields(task), error=repr(policy_error))
            return timedelta(seconds=30)

    async def run(self) -> None:
        """The ack flusher: one call per batch, batches form while the previous call runs."""
        while True:
            await self._ack_ready.wait()
            await self.flush_acks()

    async def flush_acks(self) -> None:
        """Send the queued acks; waits for a flush already under way (so shutdown can rely
        on every ack queued before the call having been written or handed to the syncer)."""
        async with self._flush_lock:
            self._ack_ready.clear()
            batch, self._acks = self._acks, []
            with_results, self._results = self._results, []
            if not batch and not with_results:
                return
            by_queue: defaultdict[str, list[str]] = defaultdict(list)
            for task in batch:
                by_queue[task.queue].append(task.id)
            results: dict[str, list[tuple[str, bytes]]] = {}
            for task, result in with_results:  # none on the no-op path: nothing built
                results.setdefault(task.queue, []).append((task.id, result))
                batch.append(task)
            self._acking += 1
            try:
                await self._write_many(batch, lambda: self._ack(by_queue, results))
            finally:
                self._acking -= 1

    async def _ack(
        self, by_queue: dict[str, list[str]], results: dict[str, list[tuple[str, bytes]]]
    ) -> None:
        for queue, task_id in await self._broker.ack(self._owner, by_queue, results or None):
            self._log.warning("task.lease_lost", task_id=task_id, queue=queue, step="ack")

    def pending(self) -> int:
        """Outcomes not yet written (queued acks, acks in flight, writes waiting on Redis)."""
        return len(self._acks) + len(self._results) + self._acking + len(self._syncer)

    async def _write(self, task: TaskMessage, apply: Callable[[], Awaitable[Any]]) -> None:
        await self._write_many([task], apply)

    async def _write_many(
        self, tasks: list[TaskMessage], apply: Callable[[], Awaitable[Any]]
    ) -> None:
        def done() -> None:
            for task in tasks:
                self._leases.release(task.queue, task.id)

        try:
            landed = await apply()
        except Exception as exc:  # unreachable, or refused (READONLY during a failover, ...)
            self._log.warning(
                failure_event(exc, "outcome.failed"),
                step="outcome",
                tasks=len(tasks),
                error=str(exc) or repr(exc),
            )
            self._syncer.add(apply, done, what="outcome")
            return
        if landed is False:
            for task in tasks:
                self._log.warning("task.lease_lost", **_fields(task), step="outcome")
        done()


def _short(exc: BaseException) -> str:
    """The error for a log line: its type and message (``SystemExit: 7``, not ``7``)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _fields(task: TaskMessage) -> dict[str, Any]:
    return {"task_id": task.id, "type": task.type, "queue": task.queue, "attempt": task.retried + 1}
