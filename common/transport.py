"""How a script call reaches Redis and how its reply comes back: the one place that knows the
pipelining connection (common/wire.py), EVALSHA, NOSCRIPT, OOM and timeouts.

Every call takes one path, ``run``: send the calls in one round trip (on the pipelining
connection, or through redis-py when there is none or it failed), then ``_settle`` the
replies: NOSCRIPT loads the scripts and repeats those calls once, OOM becomes
RedisOutOfMemory, a script's runtime error names its ``.lua`` file and line. Connection
failures and timeouts become BrokerUnavailable, the one error callers handle.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import AuthenticationError, NoScriptError, OutOfMemoryError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .cluster import is_cluster
from .cluster_wire import ClusterWire
from .errors import (
    BrokerUnavailable,
    OutcomeUnknown,
    RedisOutOfMemory,
    RedisPermissionDenied,
    ScriptError,
    TandemqError,
)
from .replies import StreamStopped, cluster_refused, lost_redis, raised_error, unavailable
from .scripts import CHECK_ON_RESEND, SCRIPTS, Script
from .wire import Subscription, Wire, WireDown, WireLost, pack

Call = tuple[str, Sequence[str], Sequence[Any]]  # script name, KEYS, ARGV

_PIPELINE = 10  # calls per round trip when a stream is sent again through redis-py
_CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
_SCRIPT_LINE = re.compile(r"@?user_script:(\d+)")  # how Redis names a line of the running script
_CALLED = re.compile(r"redis\.p?call\(\s*[\"'](\w+)")  # the command a Lua line calls


class Transport:
    """Script calls on one Redis client. ``resend=False`` on a call: a call that may have run
    on a connection that then failed is not sent again (BrokerUnavailable instead), for calls
    whose repeat is not harmless (dequeue)."""

    def __init__(self, redis: Redis, timeout: float = 5.0) -> None:
        self.redis = redis
        self.timeout = timeout  # bound on one round trip: a stalled connection must not hang us
        self._wire = wire_for(redis)
        self._cluster = cluster_wire_for(redis)  # on a Redis Cluster, instead of _wire

    async def aclose(self) -> None:
        """Close the transport's own connection (the redis-py client is the caller's)."""
        if self._wire is not None:
            await self._wire.aclose()
        if self._cluster is not None:
            await self._cluster.aclose()

    @contextlib.asynccontextmanager
    async def guard(self, bounded: bool = True) -> AsyncIterator[None]:
        """Bound a plain redis-py command by ``timeout`` (unless the caller bounds each step
        itself) and turn every connection failure into BrokerUnavailable."""
        try:
            async with asyncio.timeout(self.timeout if bounded else None):
                yield
        except (AuthenticationError, ResponseError) as exc:  # refused login, ACL, bad db
            raise raised_error(exc) from exc
        except Exception as exc:
            if not lost_redis(exc):
                raise
            raise self._unavailable(exc) from exc

    async def load_scripts(self) -> None:
        """SCRIPT LOAD every script (idempotent); done up front and again after NOSCRIPT."""
        async with self.guard():
            await self._load_scripts()

    async def call(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """One script call; its error raised."""
        return (await self.call_many([(name, keys, args)]))[0]

    async def call_many(self, calls: Sequence[Call], resend: bool = True) -> list[Any]:
        """Script calls in one round trip; the first call's error raised."""
        results = await self.run(calls, resend)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    async def run(
        self,
        calls: Sequence[Call],
        resend: bool = True,
        meanwhile: Callable[[], object] | None = None,
    ) -> list[Any]:
        """Script calls in one round trip; a failed call's result is its error, so calls
        that share a round trip do not share their errors. Not wrapped in ``guard``: a
        context manager on the path of every send costs measurably.

        ``meanwhile`` (the caller's work that needs no reply) is called once: as soon as the
        calls are written on the pipelining connection, so it overlaps the round trip (a
        send's TaskInfo: a fifth of a send on a 2-core VM), else before they are sent. It is
        not called when the round trip fails before that."""
        try:
            replies = await self._round_trip(calls, resend, meanwhile)
            return await self._settle(calls, replies, resend)
        except Exception as exc:
            if not lost_redis(exc):
                raise
            raise self._unavailable(exc) from exc

    async def stream(
        self, batches: Iterable[Sequence[Call]], before_each: Callable[[], Awaitable[None]]
    ) -> list[Any]:
        """Write each batch of calls as soon as it is made (``before_each`` awaited first),
        then read every reply: Redis runs batch k while the caller makes k+1. One connection
        keeps the batches in order. When that connection fails, every call (the batches all
        made) is sent again through redis-py in round trips of ``_PIPELINE`` calls: use it
        only for calls whose repeat is harmless. Returns the replies; raises the first error."""
        calls: list[Call] = []
        batches = iter(batches)
        try:
            if self._wire is None:
                raise WireDown("no pipelining connection for this kind of Redis connection")
            # Each write and each reply is bounded, not the whole stream: a million tasks
            # take longer than one round trip may.
            async with self.guard(bounded=False):
                stream = await self._wire.stream()
                for batch in batches:
                    calls += batch
                    await before_each()
                    await stream.send([evalsha(call) for call in batch], self.timeout)
                replies = await stream.replies()
        except (BrokerUnavailable, WireLost):
            return await self._stream_again(calls, batches, before_each)
        try:
            replies = await self._settle(calls, replies, resend=True)
        except Exception as exc:
            if not lost_redis(exc):
                raise
            raise self._unavailable(exc) from exc
        _raise_stopped(calls, replies)
        return replies

    async def _resend(self, calls: list[Call]) -> list[Any]:
        """A stream's calls again through redis-py, ``_PIPELINE`` per round trip."""
        replies: list[Any] = []
        for start in range(0, len(calls), _PIPELINE):
            batch = checked(calls[start : start + _PIPELINE])
            try:
                replies += await self.run(batch)
            except BrokerUnavailable as exc:
                unknown = len(batch) if isinstance(exc, OutcomeUnknown) else 0
                raise StreamStopped(calls, replies, exc, unknown) from exc
            _raise_stopped(calls, replies)
        return replies

    async def _stream_again(
        self,
        calls: list[Call],
        batches: Iterator[Sequence[Call]],
        before_each: Callable[[], Awaitable[None]],
    ) -> list[Any]:
        """``stream`` through redis-py: the calls made so far, then the other batches (each
        after ``before_each``, as on the pipelining connection)."""
        if calls:
            await before_each()  # the last batch's, in case it failed before it had run
        for batch in batches:
            calls += batch
            await before_each()
        return await self._resend(calls)

    async def subscribe(self, channel: str, on_message: Callable[[bytes], None]) -> Subscription:
        """A subscription to ``channel`` on a connection of its own, ``on_message`` called
        straight from the socket's read. Raises WireDown when this client's connections are
        of a kind the pipelining connection does not make (see ``can_subscribe``)."""
        if self._cluster is not None:
            return await self._cluster.subscribe(channel, on_message)
        if self._wire is None:
            raise WireDown("no pipelining connection for this kind of Redis connection")
        return await self._wire.subscribe(channel, on_message)

    def blocking_wire(self) -> Wire | None:
        """A pipelining connection of its own to the same server, for a blocking command
        (it holds its connection until it returns); None where there is no pipelining
        connection (TLS, ``TANDEMQ_WIRE=off``)."""
        return None if self._wire is None else Wire(self._wire.target)

    async def settle(self, calls: Sequence[Call], replies: list[Any]) -> list[Any]:
        """Replies of script calls sent some other way (a blocking take) settled as ``run``
        settles its own: NOSCRIPT reloads and repeats, errors typed."""
        try:
            return await self._settle(calls, replies, resend=False)
        except Exception as exc:
            if not lost_redis(exc):
                raise
            raise self._unavailable(exc) from exc

    @property
    def pipelined(self) -> bool:
        """True when a call's first try goes over a pipelining connection, which never
        repeats it on its own (redis-py's retries do): see common/envelope.py."""
        return self._wire is not None or self._cluster is not None

    @property
    def streams(self) -> bool:
        """True when ``stream`` writes over a pipelining connection (not on a cluster)."""
        return self._wire is not None

    @property
    def can_subscribe(self) -> bool:
        """False for special connections (a credential provider, a custom class, or
        TANDEMQ_WIRE=off): subscribe through redis-py there."""
        return self._wire is not None or self._cluster is not None

    # -- one round trip -------------------------------------------------------------------

    async def _round_trip(
        self,
        calls: Sequence[Call],
        resend: bool,
        meanwhile: Callable[[], object] | None = None,
    ) -> list[Any]:
        """The calls on the pipelining connection, or through redis-py when it failed.
        Sending a call again is safe for most scripts: one that had run finds its work done
        (an enqueue reports its id as existing, which send() takes as its own earlier
        attempt). Not for dequeue: a second one leases other tasks while the first one's
        are held by nobody (see Broker.dequeue), so ``resend=False`` raises instead."""
        if self._cluster is not None:
            if meanwhile is not None:
                meanwhile()
            return await self._cluster_round_trip(calls, resend)
        lost: WireLost | None = None
        if self._wire is not None:
            try:
                commands = [evalsha(c) for c in calls]
                return await self._wire.call_many(commands, self.timeout, meanwhile)
            except WireDown:
                pass  # nothing was sent (nor meanwhile called): through redis-py, a first try
            except WireLost as exc:
                if not resend:
                    raise
                lost = exc  # the calls may have run: if the resend fails too, say so
                meanwhile = None  # called when they were written
        if meanwhile is not None:
            meanwhile()
        try:
            async with asyncio.timeout(self.timeout):
                return await self._pipeline(calls)
        except (TimeoutError, *_CONNECTION_ERRORS) as exc:
            if lost is not None:
                raise exc from lost
            raise

    async def _pipeline(self, calls: Sequence[Call]) -> list[Any]:
        """The calls through redis-py (reconnects and retries on a dropped connection), so
        in their checking form (see checked)."""
        calls = checked(calls)
        if len(calls) == 1:
            name, keys, args = calls[0]
            try:
                return [await self.redis.evalsha(SCRIPTS[name].sha, len(keys), *keys, *args)]
            except ResponseError as exc:  # NOSCRIPT, OOM, ...: settled as in a pipeline
                return [exc]
        pipe = self.redis.pipeline(transaction=False)
        for name, keys, args in calls:
            # not pipe.evalsha: a cluster pipeline refuses that method, not the command
            pipe.execute_command("EVALSHA", SCRIPTS[name].sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))

    async def _cluster_round_trip(self, calls: Sequence[Call], resend: bool) -> list[Any]:
        """Each call on the pipelining connection to its slot's primary; those a node did
        not run (a redirection: the slot moved) or whose node was unreachable go through
        redis-py, which follows the redirection and reloads the slot map for the next."""
        assert self._cluster is not None
        packed = [(keys[0] if keys else "", evalsha((n, keys, a))) for n, keys, a in calls]
        replies = await self._cluster.call_many(packed, self.timeout)
        redo = []
        for i, reply in enumerate(replies):
            if isinstance(reply, WireLost):
                if not isinstance(reply, WireDown) and not resend:
                    raise reply
                redo.append(i)
        if redo:
            async with asyncio.timeout(self.timeout):
                again = await self._pipeline([calls[i] for i in redo])
            for i, reply in zip(redo, again, strict=True):
                replies[i] = reply
        return replies

    async def _settle(self, calls: Sequence[Call], replies: list[Any], resend: bool) -> list[Any]:
        """The one place error replies are handled: NOSCRIPT (Redis restarted or its script
        cache was flushed) loads the scripts and repeats those calls once; OOM becomes
        RedisOutOfMemory; a script's runtime error becomes ScriptError naming file:line."""
        redo = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if redo:
            async with asyncio.timeout(self.timeout):
                await self._load_scripts()
            again = await self._round_trip([calls[i] for i in redo], resend)
            for i, reply in zip(redo, again, strict=True):
                replies[i] = reply
        for i, reply in enumerate(replies):
            if isinstance(reply, ResponseError):
                replies[i] = _typed(reply, SCRIPTS[calls[i][0]])
        return replies

    async def _load_scripts(self) -> None:
        if is_cluster(self.redis):  # SCRIPT LOAD goes to every primary, one script at a time
            for script in SCRIPTS.values():
                await self.redis.script_load(script.source)
            return
        pipe = self.redis.pipeline(transaction=False)
        for script in SCRIPTS.values():
            pipe.script_load(script.source)
        await pipe.execute()

    # -- one connection (common/replication.py: a write, then WAIT on its connection) ----

    async def on_one_connection(
        self, commands: Sequence[Sequence[Any]], timeout: float, key: str | None = None
    ) -> list[Any]:
        """Plain commands in one round trip on one connection (the pipelining one, else a
        redis-py pipeline, which holds one pool connection), replies in order, an error reply
        as its exception; connection failures and ``timeout`` become BrokerUnavailable.
        On a cluster: the connection to the primary of ``key``'s slot (required there)."""
        try:
            if self._cluster is not None or is_cluster(self.redis):
                return await self._on_node_of(key, commands, timeout)
            if self._wire is not None:
                try:
                    return await self._wire.call_many([pack(c) for c in commands], timeout)
                except WireDown:
                    pass  # nothing was sent: redis-py's first try
            pipe = self.redis.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            async with asyncio.timeout(timeout):
                return list(await pipe.execute(raise_on_error=False))
        except Exception as exc:
            if not lost_redis(exc):
                raise
            raise self._unavailable(exc) from exc

    async def _on_node_of(
        self, key: str | None, commands: Sequence[Sequence[Any]], timeout: float
    ) -> list[Any]:
        """``commands`` on one connection to the primary serving ``key``: the pipelining one
        the script calls to that slot took, else a redis-py cluster pipeline aimed at it."""
        if key is None:
            raise TypeError("on a cluster, on_one_connection needs the key whose node to use")
        if self._cluster is not None:
            try:
                return await self._cluster.on_node_of(key, [pack(c) for c in commands], timeout)
            except WireDown:
                pass  # nothing was sent: through redis-py
        cluster = cast(RedisCluster, self.redis)
        node = cluster.get_node_from_key(key)
        pipe = cluster.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command, target_nodes=node)
        async with asyncio.timeout(timeout):
            return list(await pipe.execute(raise_on_error=False))

    def _unavailable(self, exc: BaseException) -> TandemqError:
        """The error for a failed round trip (see common/replies.py)."""
        return unavailable(exc, self.timeout)


def _raise_stopped(calls: list[Call], replies: list[Any]) -> None:
    """Raise StreamStopped for the first error reply of a stream."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise StreamStopped(calls, replies, reply, 0)


def checked(calls: Sequence[Call]) -> list[Call]:
    """The calls in the form safe to run twice: a push_envelope or enqueue_many call that
    pushes envelopes checks first whether an earlier attempt had landed (CHECK_ON_RESEND)."""
    out = list(calls)
    for i, (name, keys, args) in enumerate(out):
        at = CHECK_ON_RESEND.get(name)
        if at is not None and args[at] == "e":
            out[i] = (name, keys, (*args[:at], "c", *args[at + 1 :]))
    return out


def wire_enabled() -> bool:
    """False when ``TANDEMQ_WIRE=off``: every call goes through redis-py, the path TLS and
    other special connections take (CI runs the test suite both ways)."""
    return os.environ.get("TANDEMQ_WIRE", "on").lower() not in ("off", "0", "false", "no")


def wire_for(redis: Redis) -> Wire | None:
    """The pipelining connection for ``redis``'s server, or None: when its connections are of
    a kind Wire does not make, or when it is switched off (``wire_enabled``; the test suite
    runs both, on plain TCP, TLS and Sentinel). None on a cluster (see cluster_wire_for)."""
    if not wire_enabled() or is_cluster(redis):
        return None
    return Wire.for_pool(redis.connection_pool)


def cluster_wire_for(redis: Redis) -> ClusterWire | None:
    """The pipelining connections to a cluster's primaries, or None (not a cluster, or
    ``TANDEMQ_WIRE=off``)."""
    if not is_cluster(redis) or not wire_enabled():
        return None
    return ClusterWire(cast(RedisCluster, redis))


def _typed(error: ResponseError, script: Script) -> Exception:
    """An error reply as the error callers handle."""
    if isinstance(error, OutOfMemoryError):
        oom = RedisOutOfMemory(f"Redis is full (maxmemory reached): {error}")
        oom.__cause__ = error
        return oom
    text = str(error)
    if text.startswith("NOREPLICAS"):  # min-replicas-to-write: refused before any write
        refused = BrokerUnavailable(
            f"Redis refused the write, too few replicas in sync (a failover, or a replica"
            f" down; see docs/REDIS.md): {text}"
        )
        refused.__cause__ = error
        return refused
    if "can't run this command" in text:  # an ACL denial inside a script (Redis 7.0)
        return _denied_in_script(error, script)
    if "user_script:" not in text or "NOPERM" in text or cluster_refused(error):
        # not a script's runtime error (READONLY, WRONGTYPE from a plain command), an ACL
        # denial inside one, or a cluster that refused its first write: as a TandemqError
        # that names what Redis said
        typed = raised_error(error)
        typed.__cause__ = error
        return typed
    where = _SCRIPT_LINE.sub(lambda m: script.where(int(m.group(1))), text)
    failed = ScriptError(f"Lua script {script.name!r} failed in Redis: {where}")
    failed.__cause__ = error
    return failed


def _denied_in_script(error: ResponseError, script: Script) -> Exception:
    """Redis 7.0 reports an ACL denial inside a script without naming the command: name it
    from the script's line, so the fix (which ``+command`` to grant) is in the message."""
    text = str(error)
    found = _SCRIPT_LINE.search(text)
    line = int(found.group(1)) if found else 0
    lines = script.source.splitlines()
    called = _CALLED.search(lines[line - 1]) if 0 < line <= len(lines) else None
    command = called.group(1).lower() if called else "a command"
    denied = RedisPermissionDenied(
        f"the Redis user may not run {command!r} (called by {script.where(line)}): {text};"
        f" grant +{command} in the user's ACL (the least rule tandemq needs is in README,"
        " Production Redis)"
    )
    denied.__cause__ = error
    return denied


def evalsha(call: Call) -> bytes:
    name, keys, args = call
    return pack(["EVALSHA", SCRIPTS[name].sha, len(keys), *keys, *args])
