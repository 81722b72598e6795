"""Redis Cluster: the redis-py cluster client built from RedisOptions, and the few facts about
slots the rest of tandemq needs.

Why it works on a cluster at all: every key of one queue carries the ``{queue}`` hash tag
(common/keys.py), so one queue lives in one slot and each script call touches one shard.
Global keys (``p:queues``, ``p:cron``) are read and written by plain commands, never inside a
script with queue keys; the wake-up and cancel channels use plain PUBLISH (from scripts too),
which a cluster delivers to subscribers on every node.

The client is redis-py's ``RedisCluster``: it reads the slot map from the nodes, follows MOVED
and ASK, and reloads the map after a failover. tandemq's own script calls take the pipelining
connection per primary (common/cluster_wire.py) and fall back to this client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import redis
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode as SyncClusterNode
from redis.cluster import RedisCluster as SyncRedisCluster
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException
from redis.exceptions import TimeoutError as RedisTimeoutError

from .errors import BrokerUnavailable, ConfigError

if TYPE_CHECKING:
    from .redis_options import RedisOptions

__all__ = [
    "NOT_A_CLUSTER_CLIENT",
    "cluster_client",
    "cluster_unreachable",
    "every_primary",
    "is_cluster",
    "node_of",
    "slot_of",
    "sync_cluster_client",
]

# A failover takes the cluster about node-timeout (15 s by default, 1 s in the tests) plus an
# election; redis-py retries a command this many times with backoff, reloading the slot map
# in between. TANDEMQ_REDIS_TIMEOUT_SECONDS still bounds each call.
_CLUSTER_RETRIES = 20


NOT_A_CLUSTER_CLIENT = (
    "REDIS_URL points at a node of a Redis Cluster, which answers only for its own slots: set"
    " TANDEMQ_CLUSTER_NODES=host:port[,host:port...] to a few of its nodes (REDIS_URL then gives"
    " only the credentials and the scheme); see docs/CLUSTER.md"
)


def slot_of(key: str | bytes) -> int:
    """The cluster slot of ``key`` (its ``{tag}`` if it has one), as Redis computes it."""
    return int(key_slot(key.encode() if isinstance(key, str) else key))


def is_cluster(redis: object) -> bool:
    """Whether ``redis`` is a cluster client, asyncio or blocking."""
    return isinstance(redis, RedisCluster | SyncRedisCluster)


def every_primary(redis: object) -> dict[str, Any]:
    """The keywords that send a command to every primary of a cluster (none otherwise): for
    what each node answers for itself, such as INFO."""
    return {"target_nodes": SyncRedisCluster.PRIMARIES} if is_cluster(redis) else {}


def node_of(redis: object, key: str) -> dict[str, Any]:
    """The keywords that send a command to the primary of ``key``'s slot on a cluster (none
    otherwise), chosen from the slot map alone: left to redis-py, a command whose keys it
    cannot see (EVALSHA, SCAN) costs a round trip to ask, or goes to every primary."""
    if not is_cluster(redis):
        return {}
    return {"target_nodes": cast(SyncRedisCluster, redis).get_node_from_key(key)}  # type: ignore[no-untyped-call]


def cluster_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` is redis-py's report that no node of the cluster answered: not a
    ConnectionError but a RedisClusterException raised from one ("Redis Cluster cannot be
    connected"), which callers must treat as Redis being away. Its other RedisClusterExceptions
    (keys of two slots in one command, say) are mistakes of the caller's and stay as they are."""
    return isinstance(exc, RedisClusterException) and isinstance(
        exc.__cause__, (RedisConnectionError, RedisTimeoutError, OSError)
    )


def cluster_client(options: RedisOptions) -> Redis:
    """A redis.asyncio cluster client for ``options`` (its URL gives credentials and TLS).

    Typed as ``Redis``: RedisCluster offers every command tandemq sends (EVALSHA routed by its
    keys, pipelines split per node, pub/sub on one node) under the same names."""
    return cast(Redis, RedisCluster(**cluster_client_kwargs(options)))


def cluster_client_kwargs(options: RedisOptions) -> dict[str, Any]:
    """The keywords of a cluster client; ConfigError for a database other than 0."""
    from redis.asyncio.connection import parse_url  # noqa: PLC0415 - only for clusters

    url = parse_url(options.url)
    db = options.db if options.db is not None else int(url.get("db") or 0)
    if db != 0:
        raise ConfigError(
            f"database {db} asked for (REDIS_URL or TANDEMQ_REDIS_DB), but Redis Cluster has"
            " database 0 only: drop the /db part of REDIS_URL"
        )
    kwargs: dict[str, Any] = {
        "startup_nodes": [ClusterNode(host, port) for host, port in options.cluster_nodes],
        "username": options.username if options.username is not None else url.get("username"),
        "password": options.password if options.password is not None else url.get("password"),
        "decode_responses": False,
        "socket_connect_timeout": options.connect_timeout,
        "socket_timeout": options.read_timeout,
        "require_full_coverage": False,  # the other shards go on serving during a failover
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), _CLUSTER_RETRIES),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }
    if options.pool_size:
        kwargs["max_connections"] = options.pool_size
    if options.tls is not None:
        kwargs.update(ssl=True, **options.tls.redis_kwargs())
    return kwargs


def sync_cluster_client(options: RedisOptions, read_timeout: float | None = None) -> redis.Redis:
    """The blocking cluster client (the processor's lease keeper, SyncDistributor): EVALSHA
    routed by its key, SCRIPT LOAD to every primary. Typed as ``redis.Redis`` for the same
    reason as above. It reads the slot map as it is made: BrokerUnavailable when no node
    answers."""
    kwargs = cluster_client_kwargs(options)
    kwargs["startup_nodes"] = [
        SyncClusterNode(h, p)  # type: ignore[no-untyped-call]
        for h, p in options.cluster_nodes
    ]
    kwargs.pop("retry")
    if read_timeout is not None:
        kwargs["socket_timeout"] = read_timeout
    try:
        return cast(redis.Redis, SyncRedisCluster(**kwargs))
    except RedisClusterException as exc:
        if not cluster_unreachable(exc):
            raise
        nodes = ",".join(f"{h}:{p}" for h, p in options.cluster_nodes)
        raise BrokerUnavailable(
            f"no node of the Redis Cluster answered (TANDEMQ_CLUSTER_NODES={nodes}): {exc};"
            " check the addresses and that the nodes run"
        ) from exc
