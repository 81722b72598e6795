"""Checks both sides run against Redis before they rely on it.

The eviction policy (read from ``INFO memory``: ``CONFIG`` is often disabled on managed Redis):
under an ``allkeys-*`` policy Redis deletes any key when full, pending lists and task hashes
included, and tasks vanish without a trace; that is refused unless TANDEMQ_ALLOW_EVICTION=true.
Under a ``volatile-*`` policy only keys with a TTL may go: tandemq's unique locks carry one, so
an evicted lock lets a duplicate through; that is a warning.
"""

from __future__ import annotations

from .broker import Broker
from .errors import ConfigError, RedisPermissionDenied
from .logging import get_logger

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
    """Raise ConfigError when Redis may evict tasks (unless allowed); log a warning for
    policies that evict only TTL'd keys. A Redis that refuses INFO is not checked (warned)."""
    log = get_logger(__name__)
    try:
        policy = await broker.memory_policy()
    except RedisPermissionDenied as exc:
        log.warning("redis.policy_unknown", error=str(exc), detail="eviction policy not checked")
        return
    error, warning = eviction_problem(policy, allow_eviction)
    if error is not None:
        raise ConfigError(error)
    if warning is not None:
        log.warning("redis.eviction_possible", policy=policy, detail=warning)
