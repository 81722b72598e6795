"""defer.lua (a task put back uncounted, for a processor that knows its type) and the
p:types announcements it relies on."""

from __future__ import annotations

from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.clock import now_ms
from tandemq.common.keys import Keys
from tandemq.common.task import Field
from tests.common.test_broker_scripts import _hash, _lease, _task, _zset


async def test_defer_schedules_the_task_without_counting_an_attempt(
    broker: Broker, redis: Redis, prefix: str
) -> None:
    qk = Keys(prefix).queue("default")
    await _lease(broker, [_task("t1")], "w1")
    due = now_ms() + 2000
    assert await broker.defer("default", "t1", "w1", due) is True
    assert await redis.zcard(qk.active) == 0
    assert await _zset(redis, qk.scheduled) == {"t1": due}
    fields = await _hash(redis, qk, "t1")
    assert fields[Field.STATE] == "scheduled"
    assert Field.RETRIED not in fields and Field.OWNER not in fields


async def test_defer_by_a_non_owner_changes_nothing(
    broker: Broker, redis: Redis, prefix: str
) -> None:
    qk = Keys(prefix).queue("default")
    await _lease(broker, [_task("t1")], "w1")
    before = await _hash(redis, qk, "t1")
    assert await broker.defer("default", "t1", "w2", now_ms()) is False
    assert await _hash(redis, qk, "t1") == before
    assert await redis.zcard(qk.scheduled) == 0


async def test_announced_types_are_read_back(broker: Broker) -> None:
    assert await broker.type_seen("a.b") is None
    await broker.announce_types(["a.b", "c.d"], 1234)
    assert await broker.type_seen("a.b") == 1234
