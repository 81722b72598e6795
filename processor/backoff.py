"""The one backoff every loop that talks to Redis uses (fetcher, wake-up listener, periodic
components, the processor's start): a failure waits ``FIRST`` seconds, each further failure
in a row twice as long up to ``MOST``; a success starts again from ``FIRST``. Short enough that
work resumes within ``MOST`` of Redis coming back, long enough that a Redis outage costs a
few log lines a second, not a busy loop."""

from __future__ import annotations

import asyncio

FIRST = 0.05
MOST = 2.0


class Backoff:
    def __init__(self, first: float = FIRST, most: float = MOST) -> None:
        self._first = first
        self._most = most
        self.delay = first  # what the next failure waits (for its log line)

    def succeeded(self) -> None:
        self.delay = self._first

    async def wait(self) -> None:
        """After a failure: sleep the current delay, then double it (up to the most)."""
        delay, self.delay = self.delay, min(self.delay * 2, self._most)
        await asyncio.sleep(delay)
