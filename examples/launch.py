"""Shared by the examples' run.py: a Redis (devredis), the processor as its own process
(``python -m tandemq run``), and the web app under uvicorn, until Ctrl-C."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import uvicorn

from examples.devredis import dev_redis

ROOT = Path(__file__).resolve().parent.parent


def serve(app: str, worker: str | None, port: int, note: str = "") -> int:
    """Serve ``app`` (module:attribute) on ``port``, with ``worker`` (a processor target) in a
    subprocess unless None; both get REDIS_URL. Returns the exit code."""
    os.chdir(ROOT)
    with dev_redis() as (url, where):
        print(f"Redis {url} ({where}); http://127.0.0.1:{port} {note}".rstrip())
        os.environ["REDIS_URL"] = url
        os.environ.setdefault("TANDEMQ_LOG_FORMAT", "console")
        proc = None
        if worker is not None:
            proc = subprocess.Popen([sys.executable, "-m", "tandemq", "run", worker])
        try:
            uvicorn.run(app, host="127.0.0.1", port=port)
        finally:
            if proc is not None:
                proc.terminate()  # SIGTERM: the processor finishes what it runs, exits 0
                proc.wait(30)
    return 0
