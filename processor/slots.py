"""How many tasks this processor may take: ``concurrency`` slots, one per fetched task from
the fetch until its handler returns (or shutdown gives it back unstarted). The fetcher waits
for a free slot; shutdown waits until none is busy."""

from __future__ import annotations

import asyncio


class Slots:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.busy = 0
        self._freed = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def free(self) -> int:
        return self.capacity - self.busy

    async def wait_free(self) -> int:
        """Wait until at least one slot is free; returns how many are."""
        while self.free() <= 0:
            self._freed.clear()
            await self._freed.wait()
        return self.free()

    async def wait_idle(self) -> None:
        """Wait until no slot is busy (no handler running, nothing fetched and unstarted)."""
        await self._idle.wait()

    def take(self, count: int) -> None:
        """``count`` tasks were fetched."""
        self.busy += count
        if self.busy:
            self._idle.clear()

    def finish(self) -> None:
        """A handler returned (or a fetched task was given back): its slot is free."""
        self.busy -= 1
        self._freed.set()
        if self.busy == 0:
            self._idle.set()
