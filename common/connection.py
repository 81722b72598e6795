"""Builds the redis.asyncio client both sides use (and the retry the sync client uses).

Bytes in and out (payloads stay raw JSON bytes); hiredis parses replies when installed; a
short retry with backoff rides out a dropped connection before ``BrokerUnavailable`` is raised.

No socket read timeout by default: with one set, redis-py 8.1 wraps every read in its own
timeout and can swallow a task's cancellation there (seen as a processor that would not stop);
dead peers are found by TCP keepalive instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry as SyncRetry

from .replies import hidden_send

T = TypeVar("T")


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
        retry=_RememberingRetry(ExponentialBackoff(cap=1.0, base=0.05), retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )


class _RememberingRetry(Retry):
    """redis-py's retry, except that the error it finally raises keeps, as its ``__cause__``,
    an earlier attempt's failure that came after the command may have reached Redis. Without
    it a command sent, then cut off, then retried against a server that is gone would end in
    "Error connecting": read as "never sent" when it may have run (see common/replies.py)."""

    async def call_with_retry(
        self, do: Callable[[], Awaitable[T]], fail: Callable[..., Any], *args: Any, **kw: Any
    ) -> T:
        failures: list[Exception] = []

        async def attempt() -> T:
            try:
                return await do()
            except Exception as exc:
                failures.append(exc)
                raise

        try:
            return await super().call_with_retry(attempt, fail, *args, **kw)
        except Exception as exc:
            earlier = hidden_send(exc, failures)
            if earlier is not None:
                raise exc from earlier
            raise


class SyncRememberingRetry(SyncRetry):
    """redis-py's retry keeping, as the final error's ``__cause__``, an earlier attempt's
    failure after which the command may have run (``_RememberingRetry`` above is the async twin;
    both decide with ``hidden_send``). The failures are the call's own: thread-safe."""

    def call_with_retry(
        self, do: Callable[[], T], fail: Callable[..., Any], *args: Any, **kw: Any
    ) -> T:
        failures: list[Exception] = []

        def attempt() -> T:
            try:
                return do()
            except Exception as exc:
                failures.append(exc)
                raise

        try:
            return super().call_with_retry(attempt, fail, *args, **kw)
        except Exception as exc:
            earlier = hidden_send(exc, failures)
            if earlier is not None:
                raise exc from earlier
            raise
