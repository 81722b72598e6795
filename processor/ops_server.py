"""The processor's ops port: ``/metrics``, ``/healthz`` and ``/readyz`` over plain HTTP/1.1.

It runs on the processor's own event loop (asyncio.start_server), not in a thread: a probe
answered here proves the loop turns, and the metrics are read without locks. Three GET routes
need no web framework; every connection serves one request and is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

from tandemq.common.logging import get_logger

from .health import Health, Verdict

MAX_HEADER_BYTES = 8192
READ_TIMEOUT_SECONDS = 5.0
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


class OpsServer:
    def __init__(self, health: Health, metrics: Callable[[], bytes] | None) -> None:
        self._health = health
        self._metrics = metrics
        self._server: asyncio.Server | None = None
        self._log = get_logger(__name__, component="ops")

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the port (useful with port 0: the OS picks one)."""
        self._server = await asyncio.start_server(self._serve, host, port)
        bound: int = self._server.sockets[0].getsockname()[1]
        self._log.info("ops.listening", host=host, port=bound, metrics=self._metrics is not None)
        return bound

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
            status, ctype, body = await self._route(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            writer.close()
            return
        except ConnectionError:
            writer.close()
            return
        head_out = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            writer.write(head_out.encode() + body)
            await writer.drain()
        writer.close()

    async def _route(self, head: bytes) -> tuple[int, str, bytes]:
        method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
        path = rest.split(" ", 1)[0].split("?", 1)[0]
        if len(head) > MAX_HEADER_BYTES:
            return _json(404, {"error": "request too large"})
        if method != "GET":
            return _json(405, {"error": "only GET"})
        if path == "/healthz":
            return _verdict(self._health.live())
        if path == "/readyz":
            return _verdict(await self._health.ready())
        if path == "/metrics" and self._metrics is not None:
            return 200, PROMETHEUS_TEXT, self._metrics()
        return _json(404, {"error": f"no route {path}; try /metrics, /healthz, /readyz"})


def _verdict(verdict: Verdict) -> tuple[int, str, bytes]:
    return _json(200 if verdict.ok else 503, verdict.detail)


def _json(status: int, body: dict[str, object]) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(body).encode()
