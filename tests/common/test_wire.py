"""The broker's own pipelining connection (common/wire.py): replies reach their callers in
order, and a server that stops answering is a bounded BrokerUnavailable, not a hang."""

from __future__ import annotations

import asyncio
import contextlib
import gc

import pytest
import redis
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.errors import BrokerUnavailable
from tandemq.common.keys import Keys
from tandemq.common.wire import Wire, WireDown, pack
from tests.support import eventually, free_port

pytestmark = pytest.mark.wire


async def test_concurrent_calls_each_get_their_own_reply(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    wire = Wire.for_pool(client.connection_pool)
    assert wire is not None
    try:

        async def echo(i: int) -> list[object]:
            return await wire.call_many([pack(["ECHO", f"m{i}"]), pack(["ECHO", f"n{i}"])], 5.0)

        replies = await asyncio.gather(*(echo(i) for i in range(200)))
        assert replies == [[f"m{i}".encode(), f"n{i}".encode()] for i in range(200)]
        error = (await wire.call_many([pack(["NOSUCHCOMMAND"])], 5.0))[0]
        assert "unknown command" in str(error)  # an error reply is its caller's alone
        assert await wire.call_many([pack(["ECHO", "after"])], 5.0) == [b"after"]
    finally:
        await wire.aclose()
        await client.aclose()


async def test_a_server_that_stops_answering_is_unavailable_after_the_timeout() -> None:
    """A server that accepts and reads but never replies (a stalled network, a frozen
    Redis): the call fails with BrokerUnavailable once its timeout passed."""
    received = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            received.set()
        writer.close()

    port = free_port()
    server = await asyncio.start_server(silent, "127.0.0.1", port)
    client = Redis.from_url(f"redis://127.0.0.1:{port}/0")
    broker = Broker(client, Keys("silent"), timeout=0.5)
    try:
        call = ("enqueue", ("k1", "k2", "k3"), ("id", b"{}", "0\x1f0", "wake", "q"))
        async with asyncio.timeout(10):  # a hang fails the test instead of stalling the run
            with pytest.raises(BrokerUnavailable, match="did not answer"):
                await broker.transport.run([call])
        assert received.is_set()  # the call did reach the server: it was the reply that failed
    finally:
        await broker.aclose()
        await client.aclose()
        server.close()


async def test_a_refused_handshake_is_wire_down_not_a_reply(redis_url: str) -> None:
    """AUTH refused (this server has no password): the connection is not used, and the
    error says so (the broker then goes through redis-py, which reports it to the caller)."""
    client = Redis.from_url(redis_url, password="not-the-password")
    wire = Wire.for_pool(client.connection_pool)
    assert wire is not None
    try:
        with pytest.raises(WireDown, match="refused the connection set-up"):
            await wire.call_many([pack(["PING"])], 5.0)
    finally:
        await wire.aclose()
        await client.aclose()


async def test_a_subscription_hands_over_each_message_and_reports_its_end(
    redis_url: str, redis: Redis
) -> None:
    client = Redis.from_url(redis_url)
    wire = Wire.for_pool(client.connection_pool)
    assert wire is not None
    got: list[bytes] = []
    arrived = asyncio.Event()

    def on_message(data: bytes) -> None:
        got.append(data)
        arrived.set()

    try:
        subscription = await wire.subscribe("wire-test-channel", on_message)
        await redis.publish("wire-test-channel", "one")
        async with asyncio.timeout(5):
            await arrived.wait()
        assert got == [b"one"]
        await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        async with asyncio.timeout(5):  # the listener learns its subscription is gone
            error = await subscription.closed()
        assert isinstance(error, ConnectionError)
    finally:
        await wire.aclose()
        await client.aclose()


async def test_a_call_given_up_leaves_no_unretrieved_error_when_the_connection_closes(
    redis_url: str, redis: Redis
) -> None:
    """A caller cancelled while a reply of its batch is awaited (a component stopped at
    shutdown) lets go of its other replies: closing the connection then fails them, and
    asyncio used to log "Future exception was never retrieved ... WireLost" for each."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, object]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    client = Redis.from_url(redis_url)
    wire = Wire.for_pool(client.connection_pool)
    assert wire is not None
    try:
        blocked = pack(["BLPOP", "wire-test-never-filled", "30"])
        call = asyncio.create_task(wire.call_many([blocked, pack(["PING"])], 60.0))
        await eventually(
            lambda: redis.execute_command("CLIENT", "LIST"), lambda out: b"cmd=blpop" in out
        )
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
        await wire.aclose()  # fails every reply still awaited on the connection
        del call
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
        await client.aclose()
    assert [c["message"] for c in reported] == []


async def test_meanwhile_runs_after_the_write_and_before_the_reply(redis_url: str) -> None:
    """``meanwhile`` (a send builds its TaskInfo there) runs while the reply is on its way:
    here it pushes the element a BLPOP of up to 30 s waits for. Run after the reply instead,
    it could only come after those 30 s, with BLPOP's nil."""
    client = Redis.from_url(redis_url)
    wire = Wire.for_pool(client.connection_pool)
    assert wire is not None
    pushed = redis.Redis.from_url(redis_url)  # a blocking client: meanwhile is not async
    try:
        await wire.call_many([pack(["DEL", "meanwhile"])], 5.0)
        async with asyncio.timeout(20):
            replies = await wire.call_many(
                [pack(["BLPOP", "meanwhile", "30"])], 35.0, lambda: pushed.rpush("meanwhile", "x")
            )
        assert replies == [[b"meanwhile", b"x"]]
    finally:
        pushed.close()
        await wire.aclose()
        await client.aclose()
