"""Where the pipelining connection (common/wire.py) connects, read off a redis-py pool, so it
talks to the same server the same way the client does: TCP, Unix socket or TLS (the SSL
context redis-py itself would build: same CA, client certificate, verify mode, host name
check), with the same credentials and database; for a Sentinel-managed primary, its address
is asked of the Sentinels on every connect (the pool's own lookup)."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from redis.asyncio import ConnectionPool
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.asyncio.sentinel import (
    SentinelConnectionPool,
    SentinelManagedConnection,
    SentinelManagedSSLConnection,
)

_SENTINEL_KINDS = (SentinelManagedConnection, SentinelManagedSSLConnection)


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to connect, taken from a redis-py pool's settings."""

    host: str | None
    port: int
    path: str | None  # a Unix socket, instead of host and port
    username: str | None
    password: str | None
    db: int
    client_name: str | None
    connect_timeout: float
    tls: ssl.SSLContext | None = None
    # A Sentinel-managed primary: its address, asked on each connect (host and port unused).
    discover: Callable[[], Awaitable[tuple[str, int]]] | None = None

    @property
    def primary_only(self) -> bool:
        """A READONLY reply means the server was demoted and the primary is elsewhere."""
        return self.discover is not None

    def handshake(self) -> list[list[str | bytes | int]]:
        """The commands a new connection starts with (AUTH, SELECT, CLIENT SETNAME)."""
        commands: list[list[str | bytes | int]] = []
        if self.password:
            auth: list[str | bytes | int] = ["AUTH", self.username] if self.username else ["AUTH"]
            commands.append([*auth, self.password])
        if self.db:
            commands.append(["SELECT", self.db])
        if self.client_name:
            commands.append(["CLIENT", "SETNAME", self.client_name])
        return commands


def target_for(pool: ConnectionPool) -> Target | None:
    """The Target of ``pool``'s server, or None when its connections are of a kind the
    pipelining connection does not make (a credential provider, a custom class, replicas)."""
    kw = pool.connection_kwargs
    kind = pool.connection_class
    if kw.get("credential_provider") is not None:
        return None
    discover = None
    if isinstance(pool, SentinelConnectionPool):
        if not pool.is_master or kind not in _SENTINEL_KINDS:
            return None
        host, port, path, discover = None, 0, None, pool.get_master_address
    elif kind in (Connection, SSLConnection):
        host, port, path = kw.get("host", "localhost"), int(kw.get("port", 6379)), None
    elif kind is UnixDomainSocketConnection:
        host, port, path = None, 0, kw.get("path")
    else:
        return None
    tls = None
    if issubclass(kind, SSLConnection):
        tls = cast(SSLConnection, kind(**kw)).ssl_context.get()
    return Target(
        host=host,
        port=port,
        path=path,
        username=kw.get("username"),
        password=kw.get("password"),
        db=int(kw.get("db") or 0),
        client_name=kw.get("client_name"),
        connect_timeout=float(kw.get("socket_connect_timeout") or 5.0),
        tls=tls,
        discover=discover,
    )
