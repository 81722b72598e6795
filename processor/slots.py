"""How many tasks this processor may take: ``concurrency`` slots, one per fetched task from
the fetch until its handler returns (or shutdown gives it back unstarted). The fetcher waits
for a free slot; shutdown waits until none is busy."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping


class Slots:
    """``caps``: queues whose tasks may take at most that many slots at once (the others
    share what is left); ``cap_freed`` is set when a capped queue's task finishes."""

    def __init__(self, capacity: int, caps: Mapping[str, int] | None = None) -> None:
        self.capacity = capacity
        self.busy = 0
        self._running = dict.fromkeys(caps or {}, 0)  # capped queue -> its busy slots
        self._caps = dict(caps or {})
        self.cap_freed = asyncio.Event()
        self._freed = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def free(self) -> int:
        return self.capacity - self.busy

    @property
    def capped(self) -> bool:
        return bool(self._caps)

    def room(self, queue: str) -> int:
        """Slots a task of ``queue`` may take now: the free ones, within the queue's cap."""
        cap = self._caps.get(queue)
        return self.free() if cap is None else min(self.free(), cap - self._running[queue])

    def full(self) -> set[str]:
        """Capped queues with no room now."""
        return {q for q, cap in self._caps.items() if self._running[q] >= cap}

    async def wait_free(self) -> int:
        """Wait until at least one slot is free; returns how many are."""
        while self.free() <= 0:
            self._freed.clear()
            await self._freed.wait()
        return self.free()

    async def wait_idle(self) -> None:
        """Wait until no slot is busy (no handler running, nothing fetched and unstarted)."""
        await self._idle.wait()

    def take(self, count: int, queue: str | None = None) -> None:
        """``count`` tasks (of ``queue``) were fetched."""
        self.busy += count
        if queue in self._running:
            self._running[queue] += count
        if self.busy:
            self._idle.clear()

    def finish(self, queue: str | None = None) -> None:
        """A handler returned (or a fetched task was given back): its slot is free."""
        self.busy -= 1
        if queue in self._running:
            self._running[queue] -= 1
            self.cap_freed.set()
        self._freed.set()
        if self.busy == 0:
            self._idle.set()
