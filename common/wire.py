"""Script calls written straight to one pooled connection, for the two hot write paths
(``send`` and ``send_many``).

redis-py's generic command packer costs about 1 µs per argument, which under 100 concurrent
senders was the largest single cost of ``send``; and its pipeline cannot write while the caller
is still building the next commands, which ``send_many`` needs to overlap its work with Redis's.
``Exchange`` packs the few argument types tandemq passes (str, bytes, int) itself, writes as the
caller goes and reads every reply at the end. It does not reconnect or retry: callers fall back
to the redis-py path, which does (see Broker).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, Self

from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

Arg = str | bytes | int


def pack(args: Sequence[Arg]) -> bytes:
    """One command in the Redis protocol (RESP)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int) and not isinstance(arg, bool):
            data = b"%d" % arg
        else:
            raise TypeError(f"cannot send {type(arg).__name__} to Redis: {arg!r}")
        parts += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(parts)


class Exchange:
    """``async with Exchange(pool, timeout) as ex``: ``await ex.send(commands)`` as often as
    needed, then ``await ex.replies()``. A failed command's reply is its ResponseError (the
    stream stays in step); any other error closes the connection, whose replies can no longer
    be matched."""

    def __init__(self, pool: ConnectionPool, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout  # bound on each write and each reply (TimeoutError)
        self._conn: AbstractConnection | None = None
        self._unread = 0

    async def __aenter__(self) -> Self:
        async with asyncio.timeout(self._timeout):
            self._conn = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._conn is None:
            return
        if exc is not None or self._unread:
            await self._conn.disconnect()
        await self._pool.release(self._conn)

    async def send(self, commands: Iterable[Sequence[Arg]]) -> None:
        assert self._conn is not None, "use Exchange in async with"
        packed = [pack(command) for command in commands]
        async with asyncio.timeout(self._timeout):
            await self._conn.send_packed_command(packed, check_health=False)
        self._unread += len(packed)

    async def replies(self) -> list[Any]:
        assert self._conn is not None, "use Exchange in async with"
        out: list[Any] = []
        while self._unread:
            try:
                async with asyncio.timeout(self._timeout):
                    out.append(await self._conn.read_response())
            except ResponseError as exc:
                out.append(exc)
            self._unread -= 1
        return out
