"""Wires the ops port of a processor (metrics, health probes) when TANDEMQ_METRICS_PORT is set.

Off by default: then nothing here is imported and the processor records nothing. The only
hook in the task path is the observer Outcome calls when an attempt ends (processor/metrics.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis

from tandemq.common.settings import Settings
from tandemq.inspector import Inspector

from .health import Health
from .metrics import (
    QUEUE_STATES,
    MetricsCollector,
    QueueGauges,
    QueueSnapshot,
    TaskMetrics,
    exposition,
    new_registry,
)
from .ops_server import OpsServer


class Ops:
    """The processor's metrics records and its ops server, started after the components."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tasks = TaskMetrics()
        self.health: Health | None = None
        self.port: int | None = None
        self._server: OpsServer | None = None
        self._inspector: Inspector | None = None
        self._loops: list[asyncio.Task[Any]] = []

    async def start(
        self,
        *,
        ping: Callable[[], Awaitable[Any]],
        fetching: Callable[[], bool],
        components_alive: Callable[[], bool],
        in_flight: Callable[[], int],
        redis: Redis,
    ) -> int:
        s = self.settings
        gauges = None
        if s.metrics_queue_gauges:
            self._inspector = Inspector(settings=s, redis=redis)
            source = queue_snapshots(self._inspector, list(s.queues))
            gauges = QueueGauges(source, s.metrics_queue_gauges_interval_seconds)
            self._loops.append(asyncio.create_task(gauges.run()))
        registry = new_registry(MetricsCollector(self.tasks, in_flight, gauges))
        self.health = Health(ping, fetching, components_alive)
        self._loops.append(asyncio.create_task(self.health.run()))
        self._server = OpsServer(self.health, lambda: exposition(registry))
        assert s.metrics_port is not None
        self.port = await self._server.start(s.metrics_host, s.metrics_port)
        return self.port

    def stopping(self) -> None:
        """Shutdown began: readiness turns false at once (no new traffic should be sent)."""
        if self.health is not None:
            self.health.stopping = True

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops = []
        if self._inspector is not None:
            await self._inspector.aclose()
            self._inspector = None


def queue_snapshots(
    inspector: Inspector, queues: list[str] | None
) -> Callable[[], Awaitable[Sequence[QueueSnapshot]]]:
    """Reads the queue gauges through the inspector: ``queues``, or every known queue."""

    async def read() -> Sequence[QueueSnapshot]:
        if queues is None:
            stats = await inspector.queues()
        else:
            stats = [await inspector.queue(q) for q in queues]
        return [
            QueueSnapshot(
                s.queue,
                {state: getattr(s, state) for state in QUEUE_STATES},
                s.oldest_pending_age or 0.0,
            )
            for s in stats
        ]

    return read
