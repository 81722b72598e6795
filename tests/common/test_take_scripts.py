"""Blocking takes (common/take.py, take.lua) and the sweep of dead takers (take_recover.lua),
against the real test Redis: what they lease, what they leave, and what they give back."""

from __future__ import annotations

import asyncio
import gc
import os
import uuid

import pytest
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.clock import now_ms
from tandemq.common.take import BlockingTake
from tandemq.common.task import Field, NewTask
from tandemq.common.wire import WireLost

OWNER = "host:1:take"
LEASE = 60_000

# Blocking takes run on the pipelining connection: none where TANDEMQ_WIRE=off.
pytestmark = pytest.mark.skipif(
    os.environ.get("TANDEMQ_WIRE", "on").lower() in ("off", "0", "false", "no"),
    reason="no pipelining connection (TANDEMQ_WIRE=off)",
)


def _task() -> NewTask:
    return NewTask(uuid.uuid4().hex, "default", "tests.Job", b'{"n":1}', 3, now_ms())


async def _take(broker: Broker) -> BlockingTake:
    wire = broker.transport.blocking_wire()
    assert wire is not None
    return BlockingTake(broker, wire, "default", OWNER)


async def _parked(take: BlockingTake, waiting: asyncio.Task[object]) -> None:
    """Until the take's commands are out and its connection's id known."""
    while not (waiting.done() or (take._busy and take._client_id is not None)):  # noqa: ASYNC110
        await asyncio.sleep(0.005)


async def test_parked_take_leases_the_task_pushed_while_it_waits(
    broker: Broker, redis: Redis
) -> None:
    take = await _take(broker)
    qk = broker.keys.queue("default")
    try:
        waiting = asyncio.create_task(take.take(LEASE, 5000))
        await _parked(take, waiting)  # (a task pushed before would be taken all the same)
        task = _task()
        await broker.enqueue(task)
        tasks, missing = await asyncio.wait_for(waiting, 5)
    finally:
        await take.aclose()
    assert [t.id for t in tasks] == [task.id] and missing == []
    assert tasks[0].payload == b'{"n":1}' and tasks[0].max_retry == 3
    assert await redis.zscore(qk.active, task.id) is not None
    assert await redis.hget(qk.task(task.id), Field.OWNER) == OWNER.encode()
    assert await redis.exists(qk.taking(OWNER), qk.pending) == 0
    assert await redis.zscore(qk.takers, OWNER) is None


async def test_take_that_times_out_leaves_nothing_behind(broker: Broker, redis: Redis) -> None:
    take = await _take(broker)
    qk = broker.keys.queue("default")
    try:
        assert await take.take(LEASE, 10) == ([], [])
    finally:
        await take.aclose()
    assert await redis.exists(qk.taking(OWNER), qk.takers, qk.active) == 0


async def test_unblock_ends_a_parked_take_at_once(broker: Broker) -> None:
    take = await _take(broker)
    try:
        waiting = asyncio.create_task(take.take(LEASE, 60_000))
        await _parked(take, waiting)
        await take.unblock()
        assert await asyncio.wait_for(waiting, 5) == ([], [])
    finally:
        await take.aclose()


async def test_recover_gives_back_only_expired_takers_lists(broker: Broker, redis: Redis) -> None:
    qk = broker.keys.queue("default")
    dead, live = "host:2:dead", "host:3:live"
    await redis.zadd(qk.takers, {dead: now_ms() - 1, live: now_ms() + 60_000})
    await redis.lpush(qk.taking(dead), "older", "newer")  # newest at the left, as BLMOVE puts
    await redis.lpush(qk.taking(live), "kept")
    await redis.lpush(qk.pending, "queued")
    assert await broker.recover_takes(["default"]) == 2
    # back at the consuming (right) end, the older one taken first
    assert await redis.lrange(qk.pending, 0, -1) == [b"queued", b"newer", b"older"]
    assert await redis.exists(qk.taking(dead)) == 0
    assert await redis.lrange(qk.taking(live), 0, -1) == [b"kept"]
    assert await redis.zrange(qk.takers, 0, -1) == [live.encode()]


async def test_a_take_whose_connection_is_killed_leaves_no_unretrieved_error(
    broker: Broker, redis: Redis
) -> None:
    """A parked take whose connection drops raises WireLost from its first failed reply;
    the others (the move, the lease) used to be left failed and unawaited, and asyncio
    logged "Future exception was never retrieved" for them (seen at a faults run's end)."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, object]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    take = await _take(broker)
    try:
        waiting = asyncio.create_task(take.take(LEASE, 30_000))
        await _parked(take, waiting)
        await redis.client_kill_filter(_id=str(take._client_id))
        try:
            await waiting
        except WireLost:
            pass  # (no `as`: the traceback, which holds the futures, is let go of here)
        else:
            pytest.fail("the take did not fail with its connection")
        await take.aclose()
        del waiting, take  # the connection's error, which holds the futures, goes with it
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert [c["message"] for c in reported] == []
