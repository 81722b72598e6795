"""What one processor holds: the slots in use and the leases it must renew or give back."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict

from tandemq.common.clock import now_ms
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
        # (queue, id) -> (type, taken at ms) of every held task, for the heartbeat record
        self._running: dict[tuple[str, str], tuple[str, int]] = {}

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
        now = now_ms() if tasks else 0
        for task in tasks:
            self._held[task.queue].add(task.id)
            self._running[(task.queue, task.id)] = (task.type, now)

    def finish(self) -> None:
        """A handler returned (or a fetched task was given back): its slot is free."""
        self.busy -= 1
        self._freed.set()
        if self.busy == 0:
            self._idle.set()

    def release(self, queue: str, task_id: str) -> None:
        """The task's outcome landed (or its lease was lost): stop renewing it."""
        self._held[queue].discard(task_id)
        self._running.pop((queue, task_id), None)

    def held(self) -> dict[str, list[str]]:
        return {q: list(ids) for q, ids in self._held.items() if ids}

    def running(self, most: int) -> list[tuple[tuple[str, str], tuple[str, int]]]:
        """Up to ``most`` held tasks as ((queue, id), (type, taken at ms)), oldest first."""
        return list(itertools.islice(self._running.items(), most))
