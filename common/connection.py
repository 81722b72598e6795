"""Builds the redis.asyncio client both sides use.

Bytes in and out (payloads stay raw JSON bytes); hiredis parses replies when installed; a
short retry with backoff rides out a dropped connection before ``BrokerUnavailable`` is raised.

No socket read timeout by default: with one set, redis-py 8.1 wraps every read in its own
timeout and can swallow a task's cancellation there (seen as a processor that would not stop);
dead peers are found by TCP keepalive instead.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


def create_redis(url: str, *, retries: int = 3) -> Redis:
    """A client for ``url`` (redis://, rediss://, unix://) with reconnect and backoff.

    Round trips are bounded by the broker (``Broker(timeout=...)``), not by a socket timeout.
    """
    return Redis.from_url(
        url,
        decode_responses=False,
        socket_connect_timeout=5.0,
        socket_timeout=None,
        socket_keepalive=True,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
