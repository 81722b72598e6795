"""``tandemq metrics``: the standalone exporter of queue gauges (docs/OPERATIONS.md, metrics)."""

from __future__ import annotations

import click

from tandemq.common.errors import ConfigError
from tandemq.common.settings import Settings


@click.command()
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=9101, show_default=True, type=click.IntRange(0, 65535))
def metrics(host: str, port: int) -> None:
    """Export the queue gauges of every queue for Prometheus (/metrics, /healthz, /readyz).

    Run one of these and set TANDEMQ_METRICS_QUEUE_GAUGES=false on the processors, so the
    gauges are not exported once per processor. Needs the tandemq[metrics] extra.
    """
    settings = Settings.load()
    try:
        from tandemq.processor.exporter import run_exporter  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        raise ConfigError(
            f"the exporter needs its extra: pip install 'tandemq[metrics]' ({exc})"
        ) from exc
    run_exporter(settings, host, port)
