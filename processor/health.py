"""Liveness and readiness of one processor, for Kubernetes probes (``/healthz``, ``/readyz``).

Both answers are computed on the processor's own event loop (the ops server runs there), so
an answer at all proves the loop turns; a ticker also measures how late the loop wakes up,
and liveness fails when that lag passes a bound (a handler blocking the loop).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

TICK_SECONDS = 0.25
MAX_LOOP_LAG_SECONDS = 5.0
PING_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    detail: dict[str, Any]


class Health:
    """Answers the probes from what the processor exposes: whether its components still run,
    whether the last fetch worked, and a Redis PING."""

    def __init__(
        self,
        ping: Callable[[], Awaitable[Any]],
        fetching: Callable[[], bool],
        components_alive: Callable[[], bool],
        max_loop_lag: float = MAX_LOOP_LAG_SECONDS,
    ) -> None:
        self._ping = ping
        self._fetching = fetching
        self._components_alive = components_alive
        self._max_loop_lag = max_loop_lag
        self.loop_lag = 0.0
        self.stopping = False

    async def run(self) -> None:
        """The ticker: sleeps a fixed time and records how much later than asked it woke."""
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + TICK_SECONDS
            await asyncio.sleep(TICK_SECONDS)
            self.loop_lag = max(loop.time() - asked, 0.0)

    def live(self) -> Verdict:
        lag_ms = round(self.loop_lag * 1000, 1)
        if self.loop_lag > self._max_loop_lag:
            return Verdict(False, {"status": "loop blocked", "loop_lag_ms": lag_ms})
        if not self._components_alive():
            return Verdict(False, {"status": "component stopped", "loop_lag_ms": lag_ms})
        return Verdict(True, {"status": "ok", "loop_lag_ms": lag_ms})

    async def ready(self) -> Verdict:
        if self.stopping:
            return Verdict(False, {"status": "shutting down"})
        started = time.perf_counter()
        try:
            async with asyncio.timeout(PING_TIMEOUT_SECONDS):
                await self._ping()
        except Exception as exc:  # unreachable, refused, timed out: not ready, say why
            return Verdict(False, {"status": "redis unreachable", "error": type(exc).__name__})
        ping_ms = round((time.perf_counter() - started) * 1000, 2)
        if not self._fetching():
            return Verdict(False, {"status": "not fetching", "redis_ping_ms": ping_ms})
        return Verdict(True, {"status": "ok", "redis_ping_ms": ping_ms})
