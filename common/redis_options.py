"""Where Redis is and how to talk to it, checked once; the one factory both sides build their
Redis clients with (Distributor, Processor, and the processor's lease-keeping thread).

Topologies:

- **single**: REDIS_URL (``redis://``, ``rediss://`` for TLS, ``unix://``).
- **sentinel**: TANDEMQ_SENTINELS and TANDEMQ_SENTINEL_MASTER; the primary's address is asked
  of the Sentinels on every new connection and again after a failover. REDIS_URL then gives
  only the primary's credentials, database and scheme (``rediss://`` for TLS); its host is
  not used.
- **cluster**: TANDEMQ_CLUSTER_NODES (any few nodes; the rest are found from them). REDIS_URL
  then gives only the credentials and the scheme (``rediss://`` for TLS). See common/cluster.py.

Settings' connection fields (common/redis_settings.py) win over what the URL says. Nothing
here puts a password in a message or a log: ``describe()`` is what may be logged.

The pipelining connection (common/wire.py) follows the client it is made for: TLS with the
same certificates and checks, and a Sentinel-managed primary looked up on each connect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import redis as redis_sync
import redis.asyncio.sentinel as async_sentinel
import redis.sentinel as sync_sentinel
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import parse_url
from redis.backoff import ExponentialBackoff
from redis.connection import parse_url as sync_parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .cluster import cluster_client, sync_cluster_client
from .connection import SyncRememberingRetry
from .connection import _RememberingRetry as RememberingRetry
from .errors import ConfigError
from .redis_settings import Address, RedisSettings

Topology = Literal["single", "sentinel", "cluster"]

# While Sentinels elect a new primary (1-2.5 s after SENTINEL FAILOVER, longer after a crash),
# redis-py raises MasterNotFoundError. A Sentinel client retries that many times with backoff
# capped at half a second; the round-trip bound (TANDEMQ_REDIS_TIMEOUT_SECONDS) cuts it short.
_SENTINEL_RETRIES = 40
_POOL_SIZE = 100  # connections per client unless TANDEMQ_REDIS_POOL_SIZE says otherwise


@dataclass(frozen=True, slots=True)
class TLSOptions:
    """Certificates and checks for a ``rediss://`` connection."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: Literal["full", "ca", "none"] = "full"

    def redis_kwargs(self) -> dict[str, Any]:
        """redis-py's names for these options (for a Connection or a Sentinel client)."""
        return {
            "ssl_ca_certs": self.ca_file,
            "ssl_certfile": self.cert_file,
            "ssl_keyfile": self.key_file,
            "ssl_cert_reqs": "none" if self.verify == "none" else "required",
            "ssl_check_hostname": self.verify == "full",
        }


@dataclass(frozen=True, slots=True)
class RedisOptions:
    """Validated connection options; ``client()`` builds a redis.asyncio client from them."""

    url: str = "redis://localhost:6379/0"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    db: int | None = None
    connect_timeout: float = 5.0
    read_timeout: float | None = None
    pool_size: int | None = None
    retries: int = 3
    tls: TLSOptions | None = None
    sentinels: tuple[Address, ...] = ()
    sentinel_master: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    cluster_nodes: tuple[Address, ...] = ()

    @classmethod
    def from_settings(cls, s: RedisSettings, url: str, retries: int = 3) -> RedisOptions:
        """The options ``s`` gives; raises ConfigError naming the variables that clash."""
        scheme = url.split("://", 1)[0]
        tls_given = [
            name
            for name, value in (
                ("TANDEMQ_TLS_CA_FILE", s.tls_ca_file),
                ("TANDEMQ_TLS_CERT_FILE", s.tls_cert_file),
                ("TANDEMQ_TLS_KEY_FILE", s.tls_key_file),
            )
            if value is not None
        ]
        if tls_given and scheme != "rediss":
            raise ConfigError(
                f"{', '.join(tls_given)} set, but REDIS_URL is {scheme}://: TLS options need a"
                " rediss:// URL (rediss://host:port/db)"
            )
        if s.tls_key_file is not None and s.tls_cert_file is None:
            raise ConfigError(
                "TANDEMQ_TLS_KEY_FILE set without TANDEMQ_TLS_CERT_FILE: give the client"
                " certificate the key belongs to"
            )
        tls = None
        if scheme == "rediss":
            tls = TLSOptions(
                ca_file=_path(s.tls_ca_file),
                cert_file=_path(s.tls_cert_file),
                key_file=_path(s.tls_key_file),
                verify=s.tls_verify,
            )
        _check_topology(s, scheme)
        return cls(
            url=url,
            username=s.redis_username,
            password=s.redis_password.get_secret_value() if s.redis_password else None,
            db=s.redis_db,
            connect_timeout=s.redis_connect_timeout_seconds,
            read_timeout=s.redis_read_timeout_seconds,
            pool_size=s.redis_pool_size,
            retries=retries,
            tls=tls,
            sentinels=tuple(s.sentinels or ()),
            sentinel_master=s.sentinel_master,
            sentinel_username=s.sentinel_username,
            sentinel_password=(
                s.sentinel_password.get_secret_value() if s.sentinel_password else None
            ),
            cluster_nodes=tuple(s.cluster_nodes or ()),
        )

    @property
    def topology(self) -> Topology:
        if self.cluster_nodes:
            return "cluster"
        return "sentinel" if self.sentinels else "single"

    def describe(self) -> dict[str, Any]:
        """What may be logged about this connection: never a password."""
        out: dict[str, Any] = {"topology": self.topology, "tls": self.tls is not None}
        if self.topology == "sentinel":
            out["sentinels"] = [f"{h}:{p}" for h, p in self.sentinels]
            out["master"] = self.sentinel_master
        elif self.topology == "cluster":
            out["nodes"] = [f"{h}:{p}" for h, p in self.cluster_nodes]
        else:
            kw = parse_url(self.url)
            out["address"] = kw.get("path") or f"{kw.get('host')}:{kw.get('port', 6379)}"
        return out

    # -- clients ----------------------------------------------------------------------

    def client(self) -> Redis:
        """A redis.asyncio client for this topology, bytes in and out, with reconnects."""
        if self.topology == "cluster":
            return cluster_client(self)
        if self.topology == "sentinel":
            kwargs = self._connection_kwargs(sentinel=True)
            backoff = ExponentialBackoff(cap=0.5, base=0.05)
            kwargs["retry"] = RememberingRetry(backoff, _SENTINEL_RETRIES)
            manager = async_sentinel.Sentinel(  # type: ignore[no-untyped-call]
                self.sentinels, sentinel_kwargs=self._sentinel_kwargs(), **kwargs
            )
            client: Redis = manager.master_for(self.sentinel_master or "", redis_class=Redis)
            return client
        kwargs = self._connection_kwargs(sentinel=False)
        # The retry keeps an earlier attempt's failure that may have reached Redis as the
        # final error's cause (OutcomeUnknown, not "never sent": common/connection.py).
        kwargs["retry"] = RememberingRetry(ExponentialBackoff(cap=1.0, base=0.05), self.retries)
        # A caller waits (up to the connect timeout) for a free connection rather than fail:
        # redis-py's plain pool raises "Too many connections" past its 100th at once.
        kwargs.setdefault("max_connections", _POOL_SIZE)
        kwargs["timeout"] = self.connect_timeout
        return Redis.from_pool(BlockingConnectionPool(**kwargs))

    def sync_client(self, read_timeout: float | None = None) -> redis_sync.Redis:
        """The same connection as a blocking client (SyncDistributor, work off the event
        loop); ``read_timeout`` overrides TANDEMQ_REDIS_READ_TIMEOUT_SECONDS."""
        if self.topology == "cluster":
            return sync_cluster_client(self, read_timeout)
        retry_count = _SENTINEL_RETRIES if self.topology == "sentinel" else self.retries
        # as the async client's: a command cut off after its write stays OutcomeUnknown
        retry = SyncRememberingRetry(ExponentialBackoff(cap=0.5, base=0.05), retry_count)
        kwargs = self._connection_kwargs(sentinel=self.topology == "sentinel", sync=True)
        kwargs["retry"] = retry
        if read_timeout is not None:
            kwargs["socket_timeout"] = read_timeout
        if self.topology == "sentinel":
            manager = sync_sentinel.Sentinel(  # type: ignore[no-untyped-call]
                self.sentinels, sentinel_kwargs=self._sentinel_kwargs(), **kwargs
            )
            name = self.sentinel_master or ""
            blocking: redis_sync.Redis = manager.master_for(  # type: ignore[no-untyped-call]
                name, redis_class=redis_sync.Redis
            )
            return blocking
        # as the async client: a thread waits for a free connection rather than fail
        kwargs.setdefault("max_connections", _POOL_SIZE)
        kwargs["timeout"] = self.connect_timeout
        pool = redis_sync.BlockingConnectionPool(**kwargs)  # type: ignore[no-untyped-call]
        return redis_sync.Redis.from_pool(pool)

    def _connection_kwargs(self, *, sentinel: bool, sync: bool = False) -> dict[str, Any]:
        """Connection keywords: the URL's, then the explicit options over them."""
        kwargs: dict[str, Any] = dict((sync_parse_url if sync else parse_url)(self.url))
        if sentinel:
            for key in ("host", "port", "connection_class"):
                kwargs.pop(key, None)
            if self.tls is not None:
                kwargs["ssl"] = True  # SentinelConnectionPool picks its TLS class from this
        for key, value in (("username", self.username), ("password", self.password)):
            if value is not None:
                kwargs[key] = value
        if self.db is not None:
            kwargs["db"] = self.db
        if self.tls is not None:
            kwargs.update(self.tls.redis_kwargs())
        if self.pool_size:
            kwargs["max_connections"] = self.pool_size
        kwargs.update(
            decode_responses=False,
            socket_connect_timeout=self.connect_timeout,
            socket_timeout=self.read_timeout,
            health_check_interval=15,
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        if "path" not in kwargs:  # TCP only: a Unix socket connection refuses the keyword
            kwargs["socket_keepalive"] = True
        return kwargs

    def _sentinel_kwargs(self) -> dict[str, Any]:
        """How to reach the Sentinels themselves: their own credentials, the same TLS."""
        kwargs: dict[str, Any] = {"socket_connect_timeout": self.connect_timeout}
        if self.sentinel_username:
            kwargs["username"] = self.sentinel_username
        if self.sentinel_password:
            kwargs["password"] = self.sentinel_password
        if self.tls is not None:
            kwargs.update(ssl=True, **self.tls.redis_kwargs())
        return kwargs


def _check_topology(s: RedisSettings, scheme: str) -> None:
    if s.sentinels and s.cluster_nodes:
        raise ConfigError(
            "TANDEMQ_SENTINELS and TANDEMQ_CLUSTER_NODES are both set: give one (a Sentinel"
            " primary or a Cluster)"
        )
    if s.sentinels and not s.sentinel_master:
        raise ConfigError(
            "TANDEMQ_SENTINELS set without TANDEMQ_SENTINEL_MASTER: give the name the"
            " Sentinels monitor the primary under (sentinel monitor <name> ...)"
        )
    if s.sentinel_master and not s.sentinels:
        raise ConfigError(
            "TANDEMQ_SENTINEL_MASTER set without TANDEMQ_SENTINELS: give the Sentinels as"
            " host:port,host:port"
        )
    if (s.sentinels or s.cluster_nodes) and scheme == "unix":
        raise ConfigError(
            "REDIS_URL is unix:// but Sentinels or Cluster nodes are set: use redis:// or"
            " rediss:// for the credentials and database"
        )


def _path(value: object) -> str | None:
    return None if value is None else str(value)
