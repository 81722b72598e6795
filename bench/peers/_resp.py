"""A minimal Redis client (stdlib only) for the few commands the runner and harness need.

The peer venvs carry different Redis clients (redis-py 5 or 8, coredis), so reading INFO or
flushing the benchmark server goes through this one instead.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit


def _address(url: str) -> tuple[str, int, int]:
    parts = urlsplit(url)
    db = int(parts.path.lstrip("/") or 0)
    return parts.hostname or "127.0.0.1", parts.port or 6379, db


def _encode(args: tuple[str, ...]) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _read_reply(stream: socket.SocketIO) -> bytes | int | None:
    line = stream.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = stream.read(size + 2)
        return data[:-2]
    return rest  # "+OK" and friends; arrays are not needed here


def command(url: str, *args: str) -> bytes | int | None:
    """Run one command on the URL's database and return its (non-array) reply."""
    host, port, db = _address(url)
    with socket.create_connection((host, port), timeout=30) as sock:
        stream = sock.makefile("rwb")
        calls = (("SELECT", str(db)), args) if db else (args,)
        for call in calls:
            stream.write(_encode(call))
        stream.flush()
        reply = None
        for _ in calls:
            reply = _read_reply(stream)  # type: ignore[arg-type]
        return reply


def info(url: str, section: str) -> dict[str, str]:
    """INFO <section> as a dict of its ``key:value`` lines."""
    raw = command(url, "INFO", section)
    assert isinstance(raw, bytes)
    pairs = (line.split(":", 1) for line in raw.decode().splitlines() if ":" in line)
    return {key: value for key, value in pairs}


def used_memory(url: str) -> int:
    return int(info(url, "memory")["used_memory"])
