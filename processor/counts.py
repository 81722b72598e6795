"""Counts finished and failed attempts per queue in memory, and adds them to Redis's
per-minute and per-day counters once a second in one pipelined call (common/history.py):
the task's path only does a dict update. A crash loses at most a second of counts."""

from __future__ import annotations

from collections import defaultdict

from tandemq.common.broker import Broker
from tandemq.common.clock import now_ms
from tandemq.common.history import add_counts

INTERVAL = 1.0


class Counts:
    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._counts: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0])

    def finished(self, queue: str, failed: bool) -> None:
        """One attempt ended (succeeded, or failed to retry or archive)."""
        pair = self._counts[queue]
        pair[0] += 1
        if failed:
            pair[1] += 1

    async def step(self) -> float:
        await self.flush()
        return INTERVAL

    async def flush(self) -> None:
        if not self._counts:
            return
        batch = {q: (p, f) for q, (p, f) in self._counts.items()}
        self._counts.clear()
        try:
            async with self._broker.transport.guard():
                await add_counts(self._broker.redis, self._broker.keys, batch, now_ms())
        except BaseException:
            for queue, (p, f) in batch.items():  # not written: counted again next time
                self._counts[queue][0] += p
                self._counts[queue][1] += f
            raise
