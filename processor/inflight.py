"""What one processor holds: the slots in use and the leases it must renew or give back."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from tandemq.common.task import TaskMessage


class Inflight:
    """Slots count fetched tasks until their handler returns; leases are held until the
    outcome (ack, retry, archive) has landed in Redis, so the heartbeat keeps renewing them
    and shutdown can give back whatever is still held."""

    def __init__(self, concurrency: int) -> None:
        self.capacity = concurrency
        self.busy = 0
        self._held: defaultdict[str, set[str]] = defaultdict(set)
        self._freed = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        # Handlers running now, and why one must stop (see interrupt).
        self._running: dict[tuple[str, str], asyncio.Task[Any]] = {}
        self._interrupts: dict[tuple[str, str], BaseException] = {}

    def free(self) -> int:
        return self.capacity - self.busy

    async def wait_free(self) -> int:
        """Wait until at least one slot is free; returns how many are."""
        while self.free() <= 0:
            self._freed.clear()
            await self._freed.wait()
        return self.free()

    async def wait_idle(self) -> None:
        """Wait until no handler is running."""
        await self._idle.wait()

    def take(self, tasks: list[TaskMessage]) -> None:
        self.busy += len(tasks)
        if self.busy:
            self._idle.clear()
        for task in tasks:
            self._held[task.queue].add(task.id)

    def finish(self) -> None:
        """A handler returned (or a fetched task was given back): its slot is free."""
        self.busy -= 1
        self._freed.set()
        if self.busy == 0:
            self._idle.set()

    def release(self, queue: str, task_id: str) -> None:
        """The task's outcome landed (or its lease was lost): stop renewing it."""
        self._held[queue].discard(task_id)
        if self._interrupts:
            self._interrupts.pop((queue, task_id), None)

    # -- stopping one running handler (cancel(), a lost lease) ----------------------------

    def interrupt(self, queue: str, task_id: str, reason: BaseException) -> bool:
        """Stop the handler of task (queue, id) if this processor holds it: its asyncio task
        is cancelled now, or, fetched but not started yet, it will not start. The runner
        then reports ``reason`` as the attempt's outcome (see Runner.run_one). Returns False
        when the task is not held here; True when it is (a handler that has already returned
        keeps its outcome: the reason is dropped when that outcome lands)."""
        key = (queue, task_id)
        if task_id not in self._held.get(queue, ()):
            return False
        worker = self._running.get(key)
        if worker is None and key in self._interrupts:
            return True  # asked already
        self._interrupts[key] = reason
        if worker is not None:
            worker.cancel()
        return True

    def start_running(self, task: TaskMessage) -> BaseException | None:
        """The calling asyncio task is about to run ``task``'s handler; returns the reason it
        must not (interrupted before it started), else None."""
        key = (task.queue, task.id)
        if self._interrupts and key in self._interrupts:
            return self._interrupts.pop(key)
        current = asyncio.current_task()
        assert current is not None
        self._running[key] = current
        return None

    def stop_running(self, task: TaskMessage) -> BaseException | None:
        """The handler returned or raised; returns why it was interrupted, if it was."""
        key = (task.queue, task.id)
        del self._running[key]
        if self._interrupts:
            return self._interrupts.pop(key, None)
        return None

    def held(self) -> dict[str, list[str]]:
        return {q: list(ids) for q, ids in self._held.items() if ids}
