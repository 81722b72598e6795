"""A private redis-server for the run: free port, no persistence, pinned to core 0."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from types import TracebackType
from typing import Self

from .peers import _resp

REDIS_CORE = "0"
MEASURED_CORE = "1"


def pinned(cores: str) -> list[str]:
    """The ``taskset`` prefix for a command, or nothing where taskset or a second core is
    missing (pinning both to one core would measure the scheduler, not the libraries)."""
    if shutil.which("taskset") is None or len(os.sched_getaffinity(0)) < 2:
        return []
    return ["taskset", "-c", cores]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """``with RedisServer() as server: server.url``; killed on exit. Only this server is
    ever flushed by the runner."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="bench-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        cmd = [
            *pinned(REDIS_CORE),
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self._dir.name,
        ]  # fmt: skip
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                _resp.command(self.url, "PING")
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    @property
    def pid(self) -> int:
        """The server's process id (bench/idle.py reads its CPU time)."""
        assert self._proc is not None, "the server runs inside the with block"
        return self._proc.pid

    def flush(self) -> None:
        _resp.command(self.url, "FLUSHALL")

    def version(self) -> str:
        return _resp.info(self.url, "server")["redis_version"]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=30)
        self._dir.cleanup()
