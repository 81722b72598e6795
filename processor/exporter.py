"""``tandemq metrics``: one exporter of the queue gauges of every known queue, so N processors
need not export the same gauges N times (set TANDEMQ_METRICS_QUEUE_GAUGES=false on them).

It serves the same three routes as a processor's ops port: ``/metrics`` (queue gauges only),
``/healthz`` (its loop answers) and ``/readyz`` (Redis answers a PING).
"""

from __future__ import annotations

import asyncio
import signal

from tandemq.common.logging import configure, get_logger
from tandemq.common.settings import Settings
from tandemq.inspector import Inspector

from .health import Health
from .metrics import MetricsCollector, QueueGauges, exposition, new_registry
from .ops import queue_snapshots
from .ops_server import OpsServer


def _always() -> bool:
    return True


async def export(settings: Settings, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set."""
    async with Inspector(settings=settings) as inspector:
        gauges = QueueGauges(
            queue_snapshots(inspector, None), settings.metrics_queue_gauges_interval_seconds
        )
        registry = new_registry(MetricsCollector(None, None, gauges))
        health = Health(inspector.redis.ping, _always, _always)
        loops = [asyncio.create_task(gauges.run()), asyncio.create_task(health.run())]
        server = OpsServer(health, lambda: exposition(registry))
        bound = await server.start(host, port)
        get_logger(__name__).info("metrics.exporting", host=host, port=bound)
        try:
            await stop.wait()
        finally:
            await server.close()
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)


def run_exporter(settings: Settings, host: str, port: int) -> None:
    """Block serving the exporter until SIGINT or SIGTERM."""
    configure(settings.log_format, settings.log_level)  # a server program: it owns the output

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await export(settings, host, port, stop)

    asyncio.run(main())
