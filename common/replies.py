"""What a Redis failure means for the caller, as tandemq errors.

- An error reply becomes a TandemqError naming what Redis said: ``RedisOutOfMemory`` (OOM),
  ``RedisPermissionDenied`` (NOPERM: an ACL denial, which names the command),
  ``RedisAuthFailed`` (WRONGPASS and other refused credentials), else ``RedisRefused``.
- A connection failure is told apart by whether the commands may have reached Redis: a failure
  to connect means nothing was sent; a connection lost after a write (or a reply that did not
  come in time) means the write may have run (``OutcomeUnknown``).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from redis.exceptions import (
    AskError,
    AuthenticationError,
    ClusterDownError,
    MaxConnectionsError,
    MovedError,
    NoScriptError,
    OutOfMemoryError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .cluster import NOT_A_CLUSTER_CLIENT, cluster_unreachable
from .errors import (
    BrokerUnavailable,
    ConfigError,
    OutcomeUnknown,
    RedisAuthFailed,
    RedisOutOfMemory,
    RedisPermissionDenied,
    RedisRefused,
    SendManyIncomplete,
    TandemqError,
)
from .wire import WireDown

if TYPE_CHECKING:
    from .transport import Call

_CLUSTER_DOWN = ("CLUSTERDOWN", "TRYAGAIN")  # a cluster's refusals: the command did not run
_AUTH_FIX = (
    "check the user and password in REDIS_URL (redis://user:password@host:port/db);"
    " the daemon does not retry a refused login"
)


def raised_error(exc: BaseException) -> TandemqError:
    """The TandemqError for an error redis-py raised (or returned) for a command."""
    text = str(exc)
    if isinstance(exc, AuthenticationError) or text.startswith(("WRONGPASS", "NOAUTH")):
        return RedisAuthFailed(f"Redis refused the login: {text}; {_AUTH_FIX}")
    if "NOPERM" in text or type(exc).__name__ == "NoPermissionError":
        return RedisPermissionDenied(
            f"the Redis user lacks a permission tandemq needs: {text}; grant it in the user's"
            " ACL (the least rule tandemq needs is in README, Production Redis)"
        )
    if "DB index is out of range" in text:
        return ConfigError(f"REDIS_URL names a database this Redis does not have: {text}")
    if isinstance(exc, MovedError | AskError) or text.startswith(("MOVED ", "ASK ")):
        # a cluster client follows redirections (cluster_wire.py too): this one is not one
        return ConfigError(f"{NOT_A_CLUSTER_CLIENT} (Redis redirected a command: {text})")
    if cluster_refused(exc):
        return BrokerUnavailable(
            f"the Redis Cluster refused the command, so nothing was written: {text}; it serves"
            " again once the cluster does (a failover or a slot migration ending, or failed nodes back)"
        )
    if isinstance(exc, OutOfMemoryError):
        return RedisOutOfMemory(f"Redis is full (maxmemory reached): {text}")
    return RedisRefused(f"Redis refused the command: {text}")


def cluster_refused(exc: BaseException) -> bool:
    """Whether ``exc`` is a cluster refusing a command it did not run: CLUSTERDOWN, TRYAGAIN,
    or (with ``cluster-allow-reads-when-down``) a script's first write while it is down."""
    text = str(exc)
    return (
        isinstance(exc, ClusterDownError | TryAgainError)
        or text.startswith(_CLUSTER_DOWN)
        or "while the cluster is down" in text
    )


def typed_reply(reply: object) -> object:
    """A script call's reply, with an error reply (but NOSCRIPT, handled by reloading) made a
    TandemqError; other replies unchanged."""
    if isinstance(reply, ResponseError) and not isinstance(reply, NoScriptError):
        error = raised_error(reply)
        error.__cause__ = reply
        return error
    return reply


def maybe_sent(exc: BaseException) -> bool:
    """Whether the commands whose round trip failed with ``exc`` may have reached Redis.

    Only a failure to connect proves they did not: redis-py's "Error ... connecting to",
    "Timeout connecting", a refused connection, or the wire's WireDown. Anything else (a
    connection lost after the write, a reply that did not come in time) means they may have
    run. The cause chain counts too: Transport chains a lost pipelining connection to the
    resend's failure, and the client's retry an earlier attempt's (common/connection.py)."""
    seen: BaseException | None = exc
    while seen is not None:
        if pool_exhausted(seen):  # nothing sent; redis-py's cause is its wait for the pool
            cause = seen.__cause__
            seen = None if isinstance(cause, TimeoutError) else cause
            continue
        if _may_have_run(seen):
            return True
        seen = seen.__cause__
    return False


def pool_exhausted(exc: BaseException) -> bool:
    """Whether ``exc`` is the client's pool refusing a connection (every one busy): raised
    before anything was written, so the command was not sent."""
    return isinstance(exc, MaxConnectionsError) or (
        isinstance(exc, RedisConnectionError) and str(exc) == "No connection available."
    )


def lost_redis(exc: BaseException) -> bool:
    """Whether ``exc`` means Redis was lost (``unavailable`` makes the error): a dropped or
    refused connection, a timeout, or a cluster none of whose nodes answered (redis-py's
    RedisClusterException raised from a connection error). Anything else is the caller's to
    see as it is."""
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError, OSError)) or (
        cluster_unreachable(exc)
    )


def unavailable(exc: BaseException, timeout: float) -> TandemqError:
    """The error for a failed round trip, for both clients: OutcomeUnknown when the commands
    may have reached Redis (``maybe_sent``), else BrokerUnavailable (they did not); a refused
    login is a configuration error. ``timeout`` is the round-trip bound, named when hit."""
    if isinstance(exc, AuthenticationError):
        return raised_error(exc)
    kind = OutcomeUnknown if maybe_sent(exc) else BrokerUnavailable
    if pool_exhausted(exc):
        return kind(
            "every connection of the Redis pool stayed busy (TANDEMQ_REDIS_POOL_SIZE; the wait"
            " is TANDEMQ_REDIS_CONNECT_TIMEOUT_SECONDS): raise the pool size or send from fewer"
            " threads at once"
        )
    if isinstance(exc, TimeoutError):
        return kind(f"Redis did not answer within {timeout:g}s")
    return kind(f"Redis unreachable: {exc}")


def hidden_send(final: BaseException, failures: Sequence[BaseException]) -> BaseException | None:
    """For a command retried by redis-py: an earlier attempt's failure that came after the
    command may have reached Redis, when the ``final`` one says it did not (a retry against a
    server that is gone ends in "Error connecting"). Raise ``final`` from it, so ``maybe_sent``
    sees it; None when there is nothing to add."""
    if final.__cause__ is not None or maybe_sent(final):
        return None
    return next((e for e in failures[:-1] if maybe_sent(e)), None)


def _may_have_run(exc: BaseException) -> bool:
    if isinstance(exc, WireDown | ConnectionRefusedError | socket.gaierror):
        return False
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        text = str(exc)
        return "connecting to" not in text and "Timeout connecting" not in text
    return True  # WireLost, our own timeout on the reply, a socket error mid-read


class StreamStopped(Exception):  # internal: Broker turns it into SendManyIncomplete
    """A stream of script calls failed part-way: ``replies`` came for the first calls, the
    next ``unknown`` calls may have run, the rest were not sent (Transport.stream)."""

    def __init__(
        self, calls: list[Any], replies: list[Any], cause: Exception, unknown: int
    ) -> None:
        super().__init__(str(cause))
        self.calls = calls
        self.replies = replies
        self.cause = cause
        self.unknown = unknown


def incomplete_send(stopped: StreamStopped) -> Exception:
    """What a send_many stopped part-way did: calls with a reply are written (or refused, with
    an error reply); the next ``unknown`` calls may have run; the rest were not sent. The plain
    cause when nothing was written and nothing is unknown."""
    written: list[str] = []
    not_written: list[str] = []
    for call, reply in zip(stopped.calls, stopped.replies, strict=False):
        (not_written if isinstance(reply, Exception) else written).extend(_call_ids(call))
    rest = stopped.calls[len(stopped.replies) :]
    maybe = [i for call in rest[: stopped.unknown] for i in _call_ids(call)]
    not_written += [i for call in rest[stopped.unknown :] for i in _call_ids(call)]
    if not written and not maybe:
        return stopped.cause
    return SendManyIncomplete(stopped.cause, written, not_written, maybe)


def _call_ids(call: Call) -> list[str]:
    """The task ids of an enqueue_many call: its ARGV after the mode (ARGV[5]), the count of
    shared fields (ARGV[6]) and those fields, each ``id \x1f type \x1f payload`` (see
    _enqueue_many_call)."""
    if call[0] != "enqueue_many":
        return []  # an index mark sent along in the stream
    args = call[2]
    first = 6 + int(args[5])
    return [bytes(a).split(b"\x1f", 1)[0].decode() for a in args[first:]]
