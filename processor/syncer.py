"""Re-applies outcome writes that failed while Redis was away (asynq's syncer).

A write is retried until it lands or reports the lease lost; either way its ``done`` callback
runs. A write that never lands only means the task runs again after its lease: at-least-once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tandemq.common.logging import failure_event, get_logger


@dataclass(slots=True)
class _Write:
    apply: Callable[[], Awaitable[Any]]
    done: Callable[[], None]
    what: str


class Syncer:
    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self._writes: list[_Write] = []
        self._log = get_logger(__name__, component="syncer")

    def add(self, apply: Callable[[], Awaitable[Any]], done: Callable[[], None], what: str) -> None:
        self._writes.append(_Write(apply, done, what))

    def __len__(self) -> int:
        return len(self._writes)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

    async def flush(self) -> None:
        """Try every queued write once; keep those Redis still refuses."""
        writes, self._writes = self._writes, []
        for i, write in enumerate(writes):
            try:
                await write.apply()
            except Exception as exc:  # unreachable or refused: keep it and the rest, in order
                self._writes.extend(writes[i:])
                self._log.warning(
                    failure_event(exc, "sync.failed"),
                    pending_writes=len(self._writes),
                    error=str(exc) or repr(exc),
                )
                return
            write.done()
