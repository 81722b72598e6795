"""``tandemq dashboard``: the web dashboard on its own server (below)."""

from __future__ import annotations

import click

from tandemq.common.errors import ConfigError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--read-only", is_flag=True, help="Show everything, refuse every action.")
def dashboard(host: str, port: int, read_only: bool) -> None:
    """Serve the web dashboard: queues, tasks, processors, live.

    Needs the tandemq[dashboard] extra. Authentication from TANDEMQ_DASHBOARD_TOKEN (bearer)
    or TANDEMQ_DASHBOARD_USERNAME and TANDEMQ_DASHBOARD_PASSWORD (basic).
    """
    try:
        from tandemq.dashboard.server import serve  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        raise ConfigError(
            f"the dashboard needs its extra: pip install 'tandemq[dashboard]' ({exc})"
        ) from exc
    serve(host, port, read_only=read_only)
