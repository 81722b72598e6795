"""The standalone dashboard server (``tandemq dashboard``, ``python -m tandemq.dashboard``).

Settings come from the environment like every tandemq tool (REDIS_URL, TANDEMQ_PREFIX), and
authentication from TANDEMQ_DASHBOARD_TOKEN or TANDEMQ_DASHBOARD_USERNAME / _PASSWORD;
TANDEMQ_DASHBOARD_SECRET keeps the CSRF token stable across restarts and replicas.
"""

from __future__ import annotations

import os
import signal

import uvicorn

from tandemq.common.logging import configure, get_logger
from tandemq.common.settings import Settings
from tandemq.inspector import Inspector

from .app import create_app
from .security import Auth

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, read_only: bool = False) -> None:
    """Serve the dashboard until SIGINT/SIGTERM. Raises ConfigError for bad settings."""
    settings = Settings.load()
    configure(settings.log_format, settings.log_level)  # a server program: it owns the output
    auth = Auth.from_env()
    if auth is None and host not in ("127.0.0.1", "localhost", "::1"):
        get_logger(__name__).warning(
            "dashboard.no_auth",
            host=host,
            detail="anyone who reaches this port can act on the queues; "
            "set TANDEMQ_DASHBOARD_TOKEN or TANDEMQ_DASHBOARD_USERNAME/_PASSWORD",
        )
    app = create_app(
        Inspector(settings=settings),
        read_only=read_only,
        auth=auth,
        secret=os.environ.get("TANDEMQ_DASHBOARD_SECRET") or None,
        own_inspector=True,
    )
    get_logger(__name__).info(
        "dashboard.listening", url=f"http://{host}:{port}/", read_only=read_only
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again for the
    # handler that was there before it: make that one a no-op, so a clean stop exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stopped)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _stopped(signum: int, frame: object) -> None:
    """Called only after uvicorn has shut down: nothing is left to do."""
