"""A pipelining Redis connection for tandemq's own script calls.

Why not redis-py for these: one awaited redis-py call costs about 120 µs here against about
75 µs for the round trip itself (its pool, packer, parser and observability hooks), and its
pipeline cannot overlap a caller's work with Redis's. ``Wire`` is one long-lived connection
per client, driven by an ``asyncio.Protocol``: a call on an idle connection is written at
once; calls made while replies are awaited leave together at the end of the loop iteration;
replies are parsed by hiredis and handed to the callers in order. Concurrent callers therefore share round trips without any batching logic of their
own (auto-pipelining), and a lone caller pays one round trip and nothing more.

It does not retry: a call on a connection that fails raises ``WireLost`` and the caller sends
it again through redis-py, which reconnects with backoff (see Broker). It connects as the
redis-py client it is made for does (common/wire_target.py): TCP, Unix socket or TLS, and a
Sentinel-managed primary looked up on each connect; a READONLY reply there (the primary was
demoted) drops the connection so the next one finds the new primary. Other connections (a
credential provider, a custom class; ``Wire.for_pool`` returns None) go through redis-py.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import hiredis
from redis.asyncio import ConnectionPool
from redis.exceptions import NoScriptError, OutOfMemoryError, ResponseError

from .wire_target import Target, target_for

Arg = str | bytes | int
_RETRY_CONNECT_AFTER = 1.0  # seconds without a new connect attempt after one failed
# Seconds between asking the Sentinels where the primary is, while connected: after a
# failover the old primary keeps taking writes until the Sentinels demote it, seconds later
# (writes that are then lost), so a connection to it is dropped as soon as it is seen moved.
_CHECK_PRIMARY_EVERY = 1.0
_WATCH_EVERY = 0.1  # seconds between checks for a reply that is late (timeouts are this coarse)
_REFUSED = (float, bool)
_pack_command = hiredis.pack_command


class WireLost(ConnectionError):
    """The connection failed before the reply came; the command may or may not have run."""


class WireDown(WireLost):
    """There was no connection to send on: the command was not sent, so it did not run."""


def pack(args: Sequence[Arg]) -> bytes:
    """One command in the Redis protocol (RESP), packed by hiredis in C: about 1 µs for an
    enqueue's 11 arguments against 6 µs for the same loop in Python (a send's largest cost
    after its round trip). str, bytes and int only: a float or bool would be sent as its
    repr, which no caller means."""
    for arg in args:
        if isinstance(arg, _REFUSED):
            raise TypeError(f"cannot send {type(arg).__name__} to Redis: {arg!r}")
    packed: bytes = _pack_command(tuple(args))  # type: ignore[arg-type]  # (stub: one item)
    return packed


def typed(reply: Any) -> Any:
    """A command's reply, an error reply as the redis-py exception callers already handle.
    The reader makes every error reply a ResponseError (at any depth, so nothing is walked
    here: a dequeue's reply holds hundreds of items); NOSCRIPT and OOM get their subclasses."""
    if isinstance(reply, ResponseError):
        text = str(reply)
        if text.startswith("NOSCRIPT"):
            return NoScriptError(text)
        if text.startswith("OOM"):
            return OutOfMemoryError(text)
    return reply


def _demoted(reply: Any) -> bool:
    """A write refused because this server is no (writable) primary: a replica now
    (READONLY), or an old primary cut off from its replicas after a failover (NOREPLICAS,
    with min-replicas-to-write set). Nothing was written."""
    return isinstance(reply, ResponseError) and str(reply).startswith(("READONLY", "NOREPLICAS"))


class _Protocol(asyncio.Protocol):
    """One connection: writes in call order, replies matched to callers in that order.
    In pub/sub mode every reply goes to ``on_push`` instead."""

    def __init__(self, primary_only: bool = False) -> None:
        self.on_push: Callable[[Any], None] | None = None
        self._primary_only = primary_only  # READONLY: this server was demoted (Sentinel)
        self._reader = hiredis.Reader(replyError=ResponseError)
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._deadlines: deque[float] = deque()  # loop time by which each waiter's reply is due
        self._watchdog: asyncio.TimerHandle | None = None
        self._outbox: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self.lost: BaseException | None = None
        self.address: tuple[str, int] | None = None  # the server's, as connected to
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance check here.
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = self.lost or WireLost(f"connection to Redis lost: {exc or 'closed'}")
        self._transport = None
        self._writable.set()
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._deadlines.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(self.lost)
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            while (reply := self._reader.gets()) is not False:
                if self.on_push is not None:
                    self.on_push(reply)
                    continue
                if self._primary_only and _demoted(reply):
                    # Nothing ran on a replica: fail this and every later call as not sent
                    # (WireDown), so they go through redis-py, which finds the new primary.
                    self.abort("server demoted", WireDown(f"Redis primary was demoted: {reply}"))
                    return
                waiter = self._waiters.popleft()
                self._deadlines.popleft()
                if not waiter.done():  # a caller that gave up (cancelled) is skipped
                    waiter.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as exc:  # out of step: start afresh
            self.abort(exc)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def send(
        self, commands: Sequence[bytes], timeout: float, at_once: bool = False
    ) -> list[asyncio.Future[Any]]:
        """Write packed commands; returns one future per command, for its reply. A reply
        not in within ``timeout`` seconds drops the connection: its futures and every later
        one fail with TimeoutError (the stream can no longer be trusted to be in step).
        ``at_once``: written now even while replies are awaited (see write)."""
        if not commands:
            return []
        loop = asyncio.get_running_loop()
        self.write(commands, at_once=at_once or not self._waiters)
        due = loop.time() + timeout
        futures = []
        for _ in commands:
            future = loop.create_future()
            self._waiters.append(future)
            self._deadlines.append(due)
            futures.append(future)
        if self._watchdog is None:
            self._watchdog = loop.call_later(_WATCH_EVERY, self._watch)
        return futures

    def write(self, commands: Sequence[bytes], at_once: bool = False) -> None:
        """Write packed commands. While replies are awaited, writes made in one loop
        iteration leave together, at its end; otherwise, or ``at_once`` (a stream, whose
        caller goes on building the next commands without yielding), they leave now."""
        if self.lost is not None or self._transport is None:
            raise WireDown(str(self.lost or "not connected"))
        if not self._outbox and not at_once:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox += commands
        if at_once:
            self._flush()  # what others queued before goes first: order is kept

    def _flush(self) -> None:
        if not self._outbox:
            return
        data, self._outbox = b"".join(self._outbox), []
        if self._transport is not None:
            self._transport.write(data)

    def _watch(self) -> None:
        """One timer per connection, not one per call: a per-call asyncio.timeout cost more
        than a tenth of a send."""
        self._watchdog = None
        if not self._waiters:
            return
        late = asyncio.get_running_loop().time() - self._deadlines[0]
        if late > 0:
            self.abort("no reply in time", TimeoutError("Redis did not answer in time"))
            return
        self._watchdog = asyncio.get_running_loop().call_later(_WATCH_EVERY, self._watch)

    async def drain(self) -> None:
        """Wait while the kernel's send buffer is full (long streams of commands)."""
        await self._writable.wait()
        if self.lost is not None:
            raise self.lost

    def abort(self, why: BaseException | str, error: BaseException | None = None) -> None:
        """Drop the connection; every waiter fails with ``error`` (default WireLost)."""
        self.lost = self.lost or error or WireLost(f"connection to Redis dropped: {why}")
        if self._transport is not None:
            self._transport.abort()  # connection_lost follows and fails every waiter


class Wire:
    """One pipelining connection, made on first use and again after it failed."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._protocol: _Protocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None
        self._failed_at = float("-inf")
        self._primary_checked = float("-inf")
        self._checking: asyncio.Task[None] | None = None
        self._subscriptions: set[_Protocol] = set()  # dropped too when the primary moves

    @classmethod
    def for_pool(cls, pool: ConnectionPool) -> Wire | None:
        """A Wire to the server ``pool`` connects to, or None when its connections are of a
        kind Wire does not make (a credential provider, a custom class)."""
        target = target_for(pool)
        return None if target is None else cls(target)

    async def call_many(
        self,
        commands: Sequence[bytes],
        timeout: float,
        meanwhile: Callable[[], object] | None = None,
    ) -> list[Any]:
        """Send packed commands and return their replies, an error reply as its redis-py
        exception. Raises WireDown (nothing was sent, ``meanwhile`` was not called), WireLost,
        or TimeoutError (and the connection is dropped, since it cannot be trusted to answer
        any more) when a reply takes longer than ``timeout``. ``meanwhile`` is called once
        the commands are written, before their replies are awaited."""
        protocol = await self._connected()
        futures = protocol.send(commands, timeout)
        if meanwhile is not None:
            meanwhile()
        return await _replies(futures)

    async def send(self, commands: Sequence[bytes], timeout: float) -> list[asyncio.Future[Any]]:
        """Send packed commands; one future per reply (a raw reply: error replies are
        ResponseError values, see ``typed``), so a caller can read the first replies of a
        batch while a later one (a blocking command) is still awaited."""
        return (await self._connected()).send(commands, timeout)

    async def stream(self) -> CommandStream:
        """A stream of commands whose replies are read at the end (see CommandStream)."""
        return CommandStream(await self._connected())

    async def subscribe(self, channel: str, on_message: Callable[[bytes], None]) -> Subscription:
        """A connection of its own subscribed to ``channel`` (returned once Redis confirmed);
        ``on_message`` gets each message's data, called straight from the socket's read."""
        confirmed = asyncio.get_running_loop().create_future()

        def on_push(reply: Any) -> None:
            if not isinstance(reply, list) or len(reply) != 3:
                return
            if reply[0] == b"message":
                on_message(reply[2])
            elif reply[0] == b"subscribe" and not confirmed.done():
                confirmed.set_result(None)

        protocol = await self._connect()
        protocol.on_push = on_push
        if self.target.discover is not None:
            self._subscriptions.add(protocol)
            protocol.closed.add_done_callback(lambda _: self._subscriptions.discard(protocol))
        try:
            protocol.write([pack(["SUBSCRIBE", channel])], at_once=True)
            async with asyncio.timeout(self.target.connect_timeout):
                await asyncio.wait([confirmed, protocol.closed], return_when="FIRST_COMPLETED")
            if not confirmed.done():
                raise protocol.lost or WireLost("closed before the subscription was confirmed")
        except BaseException:
            protocol.abort("subscription failed")
            raise
        return Subscription(protocol)

    async def aclose(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            protocol.abort("closed")
            # bounded: shutdown must not wait on a transport that never reports its end
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await protocol.closed

    async def _connected(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        protocol = self._protocol
        if protocol is not None and protocol.lost is None and self._loop is loop:
            if self.target.discover is not None:
                self._check_primary(protocol, loop)
            return protocol
        if self._connecting is not None and self._loop is loop:
            return await asyncio.shield(self._connecting)
        if loop.time() - self._failed_at < _RETRY_CONNECT_AFTER and self._loop is loop:
            raise WireDown("connecting to Redis failed a moment ago")
        self._protocol, self._loop = None, loop
        self._connecting = loop.create_future()
        try:
            protocol = await self._connect()
        except BaseException as exc:
            self._failed_at = loop.time()
            failure = exc if isinstance(exc, WireDown) else WireDown(f"cannot connect: {exc}")
            self._connecting.set_exception(failure)
            self._connecting.exception()  # retrieved: no "never retrieved" warning
            self._connecting = None
            raise failure from exc
        self._protocol = protocol
        self._connecting.set_result(protocol)
        self._connecting = None
        return protocol

    def _check_primary(self, protocol: _Protocol, loop: asyncio.AbstractEventLoop) -> None:
        """Every _CHECK_PRIMARY_EVERY, ask the Sentinels in the background (the call goes on
        at once) and drop the connection when the primary is elsewhere now."""
        if loop.time() - self._primary_checked < _CHECK_PRIMARY_EVERY:
            return
        if self._checking is not None and not self._checking.done():
            return
        self._primary_checked = loop.time()
        self._checking = loop.create_task(self._primary_moved(protocol))

    async def _primary_moved(self, protocol: _Protocol) -> None:
        assert self.target.discover is not None
        try:
            async with asyncio.timeout(self.target.connect_timeout):
                address = await self.target.discover()
        except Exception:  # Sentinels unreachable or electing: asked again next time
            return
        for connection in (protocol, *self._subscriptions):
            if connection.address is not None and tuple(address) != connection.address:
                connection.abort(f"the primary moved to {address[0]}:{address[1]}")

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        t = self.target
        async with asyncio.timeout(t.connect_timeout):
            if t.path is not None:
                _, protocol = await loop.create_unix_connection(_Protocol, t.path)
            else:
                host, port = (t.host or "localhost", t.port)
                if t.discover is not None:  # Sentinel: where the primary is now
                    host, port = await t.discover()
                _, protocol = await loop.create_connection(
                    lambda: _Protocol(t.primary_only), host, port, ssl=t.tls
                )
                protocol.address = (host, port)
            handshake = [pack(command) for command in t.handshake()]
            for reply in [await f for f in protocol.send(handshake, t.connect_timeout)]:
                if isinstance(reply, ResponseError):
                    protocol.abort(str(reply))
                    raise WireDown(f"Redis refused the connection set-up: {reply}")
        return protocol


class Subscription:
    """A subscribed connection: ``await closed()`` returns the error it failed with;
    ``close()`` ends it."""

    def __init__(self, protocol: _Protocol) -> None:
        self._protocol = protocol

    async def closed(self) -> BaseException:
        await self._protocol.closed
        return self._protocol.lost or WireLost("subscription closed")

    def close(self) -> None:
        self._protocol.abort("unsubscribed")


class CommandStream:
    """Not Redis Streams: a batch of commands on one connection. ``send`` commands as they are built, then ``await replies()``: Redis runs the first
    while the caller builds the next. Each reply is bounded by the timeout given with its
    command (the connection's watchdog), not the whole stream, which may be long; so is the
    wait for buffer room, since a connection the watchdog drops wakes it."""

    def __init__(self, protocol: _Protocol) -> None:
        self._protocol = protocol
        self._futures: list[asyncio.Future[Any]] = []

    async def send(self, commands: Iterable[bytes], timeout: float) -> None:
        self._futures += self._protocol.send(list(commands), timeout, at_once=True)
        await self._protocol.drain()

    async def replies(self) -> list[Any]:
        return await _replies(self._futures)


async def _replies(futures: list[asyncio.Future[Any]]) -> list[Any]:
    """Each future's reply, in order; when the caller is cancelled or a reply fails, the
    futures not yet awaited are let go of (see let_go)."""
    try:
        return [typed(await f) for f in futures]
    except BaseException:
        let_go(futures)
        raise


def let_go(futures: Iterable[asyncio.Future[Any]]) -> None:
    """Reply futures no one will await: cancelled if pending (the protocol skips a done
    waiter), their error marked retrieved if failed; else asyncio logs "Future exception
    was never retrieved" for each when the connection closes (every shutdown did)."""
    for future in futures:
        if not future.done():
            future.cancel()
        elif not future.cancelled():
            future.exception()
