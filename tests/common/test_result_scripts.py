"""The result, wait and cancel scripts through the broker, state by state: every key each one
should touch, and that a processor whose lease is gone changes nothing."""

from __future__ import annotations

from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.calls import WATCH_FINAL, WATCH_MISSING, WATCH_REGISTERED
from tandemq.common.clock import now_ms
from tandemq.common.task import NewTask


def _task(task_id: str, **fields: object) -> NewTask:
    return NewTask(task_id, "default", "t.Job", b'{"n":1}', 3, now_ms(), **fields)  # type: ignore[arg-type]


async def _leased(broker: Broker, task: NewTask, owner: str = "p1") -> None:
    await broker.enqueue(task)
    taken, _ = await broker.dequeue({"default": 1}, owner, 60_000)
    assert [t.id for t in taken["default"]] == [task.id]


async def test_ack_with_a_result_stores_it_and_keeps_the_task(broker: Broker, redis: Redis) -> None:
    qk = broker.keys.queue("default")
    await _leased(broker, _task("a", result_ttl_ms=5_000))
    before = now_ms()
    assert await broker.ack("p1", {}, {"default": [("a", b'{"total":5}')]}) == []
    stored = await redis.hgetall(qk.task("a"))
    assert stored[b"rs"] == b'{"total":5}' and stored[b"s"] == b"completed"
    assert b"o" not in stored
    expiry = await redis.zscore(qk.completed, "a")
    assert expiry is not None and before + 5_000 <= expiry <= now_ms() + 5_000
    assert await redis.zcard(qk.active) == 0


async def test_ack_with_a_result_of_a_lost_lease_changes_nothing(
    broker: Broker, redis: Redis
) -> None:
    qk = broker.keys.queue("default")
    await _leased(broker, _task("a"), owner="p1")
    assert await broker.ack("p2", {}, {"default": [("a", b"1")]}) == [("default", "a")]
    assert await redis.hget(qk.task("a"), "rs") is None
    assert await redis.zscore(qk.active, "a") is not None


async def test_watch_registers_until_the_task_is_final(broker: Broker, redis: Redis) -> None:
    qk = broker.keys.queue("default")
    assert await broker.watch("default", "nope") == WATCH_MISSING
    await _leased(broker, _task("a"))
    assert await broker.watch("default", "a") == WATCH_REGISTERED
    assert await redis.hget(qk.task("a"), "w") == qk.waiter("a").encode()
    assert await broker.ack("p1", {"default": ["a"]}) == []
    # a task someone waits on is kept (not deleted) and its waiters get a token
    assert await redis.lrange(qk.waiter("a"), 0, -1) == [b"1"]
    assert 0 < await redis.pttl(qk.waiter("a")) <= 60_000
    assert await broker.watch("default", "a") == WATCH_FINAL
    assert await broker.wait_signal("default", "a", 0.1)
    assert await redis.llen(qk.waiter("a")) == 1  # put back for the other waiters


async def test_archive_wakes_the_waiters(broker: Broker, redis: Redis) -> None:
    qk = broker.keys.queue("default")
    await _leased(broker, _task("a"))
    await broker.watch("default", "a")
    assert await broker.archive("default", "a", "p1", "boom")
    assert await redis.llen(qk.waiter("a")) == 1


async def test_canceled_records_only_for_the_lease_holder(broker: Broker, redis: Redis) -> None:
    qk = broker.keys.queue("default")
    await _leased(broker, _task("a"))
    assert await broker.cancel("default", "a") == "canceling"
    assert await redis.hget(qk.task("a"), "x") == b"1"
    assert not await broker.finish_canceled("default", "a", "p2", "TaskCanceled")
    assert await redis.hget(qk.task("a"), "s") == b"active"
    assert await broker.finish_canceled("default", "a", "p1", "TaskCanceled: by cancel()")
    stored = await redis.hgetall(qk.task("a"))
    assert stored[b"s"] == b"canceled" and b"x" not in stored and b"o" not in stored
    assert await redis.zcard(qk.active) == 0
    assert await redis.zscore(qk.canceled, "a") is not None


async def test_cancel_publishes_the_running_task_on_the_cancel_channel(
    broker: Broker, redis: Redis
) -> None:
    await _leased(broker, _task("a"))
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(broker.keys.cancel_channel)
        await pubsub.get_message(timeout=1)  # the subscribe confirmation
        await broker.cancel("default", "a")
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
    assert message is not None and message["data"] == b"default\x1fa"


async def test_trim_deletes_expired_canceled_tasks_leaving_tombstones(
    broker: Broker, redis: Redis
) -> None:
    qk = broker.keys.queue("default")
    await broker.enqueue(_task("a", result_ttl_ms=1))
    assert await broker.cancel("default", "a") == "canceled"
    await redis.zadd(qk.canceled, {"a": now_ms() - 1})  # its window has passed
    assert await broker.trim(["default"], 100, 3_600_000) == 1
    assert not await redis.exists(qk.task("a"))
    assert await redis.zcard(qk.canceled) == 0
    gone = await broker.get("default", "a")
    assert gone is not None and gone.forgotten and gone.state == "canceled"
