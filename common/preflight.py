"""Checks both sides run against Redis before they rely on it.

The eviction policy (read from ``INFO memory``: ``CONFIG`` is often disabled on managed Redis):
under an ``allkeys-*`` policy Redis deletes any key when full, pending lists and task hashes
included, and tasks vanish without a trace; that is refused unless TANDEMQ_ALLOW_EVICTION=true.
Under a ``volatile-*`` policy only keys with a TTL may go: tandemq's unique locks carry one, so
an evicted lock lets a duplicate through; that is a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .cluster import NOT_A_CLUSTER_CLIENT
from .errors import ConfigError, RedisPermissionDenied
from .logging import get_logger
from .task_hash import text

if TYPE_CHECKING:
    from .broker import Broker
    from .sync_broker import SyncBroker

_VOLATILE_KEYS = "the unique locks (<prefix>:{<queue>}:u:*, sent with unique_for)"


def eviction_problem(policy: str | None, allow: bool) -> tuple[str | None, str | None]:
    """(error, warning) for a maxmemory-policy: an error refuses to start."""
    if policy is None or policy == "noeviction":
        return None, None
    if policy.startswith("allkeys-"):
        text = (
            f"Redis maxmemory-policy is {policy}: when full it deletes any key, tasks"
            " included, and they are lost without a trace. Set maxmemory-policy noeviction"
            " (redis.conf, or CONFIG SET maxmemory-policy noeviction), or set"
            " TANDEMQ_ALLOW_EVICTION=true to accept losing tasks"
        )
        return (None, text) if allow else (text, None)
    if policy.startswith("volatile-"):
        return None, (
            f"Redis maxmemory-policy is {policy}: when full it deletes keys that carry a TTL;"
            f" tandemq's keys with a TTL are {_VOLATILE_KEYS}: one evicted lets a duplicate"
            " through. Use noeviction to keep them"
        )
    return None, f"unrecognised Redis maxmemory-policy {policy!r}; tandemq expects noeviction"


async def check_redis(broker: Broker, allow_eviction: bool) -> None:
    """Raise ConfigError when REDIS_URL names one node of a Redis Cluster, or when Redis may
    evict tasks (unless allowed); log a warning for policies that evict only TTL'd keys.
    One INFO (``server_info``); a Redis that refuses it is not checked (warned)."""
    try:
        info = await broker.server_info()
    except RedisPermissionDenied as exc:
        _unchecked(exc)
        return
    refuse_cluster_node(info)
    enforce_policy(policy_from_info(info), allow_eviction)


def check_redis_sync(broker: SyncBroker, allow_eviction: bool) -> None:
    """``check_redis`` for SyncDistributor, on the synchronous client."""
    try:
        info = broker.server_info()
    except RedisPermissionDenied as exc:
        _unchecked(exc)
        return
    refuse_cluster_node(info)
    enforce_policy(policy_from_info(info), allow_eviction)


def refuse_cluster_node(info: Mapping[Any, Any]) -> None:
    """ConfigError when a client of one server talks to a Redis Cluster node (its INFO says
    ``cluster_enabled:1``; a cluster client's INFO is one reply per node, never that)."""
    if str(info.get("cluster_enabled", 0)) == "1":
        raise ConfigError(NOT_A_CLUSTER_CLIENT)


def enforce_policy(policy: str | None, allow_eviction: bool) -> None:
    """Act on ``eviction_problem``: raise its error, log its warning."""
    error, warning = eviction_problem(policy, allow_eviction)
    if error is not None:
        raise ConfigError(error)
    if warning is not None:
        get_logger(__name__).warning("redis.eviction_possible", policy=policy, detail=warning)


def policy_from_info(info: Mapping[Any, Any]) -> str | None:
    """The maxmemory-policy of an ``INFO memory`` reply (None when it does not say). Of a
    cluster's (one reply per primary, by node name): the policy that loses the most."""
    if info and all(isinstance(reply, Mapping) for reply in info.values()):
        return max((policy_from_info(reply) for reply in info.values()), key=_risk)
    policy = info.get("maxmemory_policy")
    return text(policy) if policy is not None else None


def _risk(policy: str | None) -> int:
    """How much a policy may lose, for picking a cluster's worst: any key, some, none."""
    if policy is None or policy == "noeviction":
        return 0
    return 2 if policy.startswith("allkeys-") else 1


def _unchecked(exc: RedisPermissionDenied) -> None:
    get_logger(__name__).warning(
        "redis.policy_unknown", error=str(exc), detail="eviction policy not checked"
    )
