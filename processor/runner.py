"""A fixed pool of worker coroutines: each takes a fetched task, runs it, reports the outcome.

A task's path, as short named steps: resolve the handler, decode the payload, work out the
time it may take, call the handler, report. Cancellation (forced shutdown) is not an outcome:
the task stays held and shutdown gives it back to pending. A handler cancelled through
``Running`` (a lost lease, cancel()) reports nothing either: whoever cancelled it decides.
A handler's return value is encoded here and stored with its ack (docs/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

from tandemq.common.clock import now_ms
from tandemq.common.errors import CorruptTask, DeadlineExceeded, TaskTimeout
from tandemq.common.logging import get_logger
from tandemq.common.task import TaskMessage

from .handlers import NO_HEADERS, Handlers, TaskContext
from .middleware import Middleware, chain
from .outcome import Outcome
from .results import encode_result
from .running import Running, RunningHandler
from .slots import Slots


class Runner:
    def __init__(
        self,
        *,
        handlers: Handlers,
        outcome: Outcome,
        slots: Slots,
        tasks: asyncio.Queue[TaskMessage],
        default_timeout: float,
        executor: Executor | None,
        running: Running | None = None,
        max_result_bytes: int = 1 << 20,
        middlewares: Sequence[Middleware[Any]] = (),
        state: Any = None,
    ) -> None:
        self._handlers = handlers
        self._middlewares = list(middlewares)
        self._state = state
        self._outcome = outcome
        self._slots = slots
        self._tasks = tasks
        self._default_timeout = default_timeout
        self._executor = executor
        self._running = running if running is not None else Running()
        self._max_result_bytes = max_result_bytes
        self._log = get_logger(__name__)

    async def work(self) -> None:
        """One worker: runs tasks one after another until cancelled."""
        while True:
            task = await self._tasks.get()
            try:
                await self.run_one(task)
            finally:
                self._slots.finish(task.queue)

    async def run_one(self, task: TaskMessage) -> None:
        started = time.perf_counter()
        entry = self._running.enter(task.queue, task.id, task.type)
        try:
            error, result = await self._attempt(task, entry)
        finally:
            self._running.leave(entry)  # before the outcome: only the handler is cancellable
        if entry.revoked is not None:
            self._revoked(task, entry.revoked)
        elif error is None:
            self._outcome.succeeded(task, _ms_since(started), result)
        else:
            await self._outcome.failed(task, error, _ms_since(started))

    async def _attempt(
        self, task: TaskMessage, entry: RunningHandler
    ) -> tuple[BaseException | None, bytes | None]:
        """Call the handler; returns what it raised (None on success) and its result as JSON
        (None when it returned None). Re-raises only a cancellation of the worker itself
        (shutdown), which is not an outcome."""
        try:
            value = await self._call(task)
            # encoded here: a value that cannot be stored fails the attempt (InvalidResult)
            return None, None if value is None else encode_result(value, self._max_result_bytes)
        except asyncio.CancelledError as exc:
            if entry.revoked is None and _being_cancelled():
                raise  # shutdown: the task is given back to pending
            # Cancelled through Running, or the handler's own doing (it awaited something
            # cancelled elsewhere: a failure).
            return exc, None
        except BaseException as exc:  # SystemExit from a handler must not end the daemon
            return exc, None

    def _revoked(self, task: TaskMessage, reason: str) -> None:
        """Cancelled through Running: no outcome is written (whoever cancelled decides)."""
        worker = asyncio.current_task()
        if worker is not None and worker.cancelling():
            worker.uncancel()
        self._log.warning(
            "task.cancelled", task_id=task.id, type=task.type, queue=task.queue, reason=reason
        )

    async def _call(self, task: TaskMessage) -> Any:
        if task.corrupt is not None:
            raise CorruptTask(task.corrupt)
        entry = self._handlers.resolve(task.type)
        payload = entry.decode(task.payload)
        budget, deadline_bound = self._budget(task)
        log = self._log.bind(
            task_id=task.id, type=task.type, queue=task.queue, attempt=task.retried + 1
        )
        ctx = TaskContext(
            task.id, task.type, task.queue, task.retried, task.max_retry, log,
            task.headers or NO_HEADERS, self._state,
        )  # fmt: skip
        log.info("task.started")
        try:
            async with asyncio.timeout(budget):
                if self._middlewares:
                    call = functools.partial(entry.call, payload, ctx, self._executor)
                    return await chain(self._middlewares, payload, ctx, call)
                return await entry.call(payload, ctx, self._executor)
        except TimeoutError as exc:
            if deadline_bound:
                raise DeadlineExceeded(f"deadline passed after {budget:.3f}s of running") from exc
            raise TaskTimeout(f"handler ran past its timeout of {budget:.3f}s") from exc

    def _budget(self, task: TaskMessage) -> tuple[float, bool]:
        """Seconds the handler may run, and whether the deadline (not the timeout) sets it."""
        timeout = task.timeout_ms / 1000 if task.timeout_ms else self._default_timeout
        if task.deadline_ms is None:
            return timeout, False
        left = (task.deadline_ms - now_ms()) / 1000
        if left <= 0:
            raise DeadlineExceeded(f"deadline passed {-left:.3f}s before the task could start")
        return (left, True) if left < timeout else (timeout, False)


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
