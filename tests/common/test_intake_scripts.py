"""The intake scripts through common/intake.py, state by state on a real Redis."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.intake import IntakeStore, IntakeTask, StreamEntry
from tandemq.common.keys import intake_keys


def _name(prefix: str) -> str:
    return f"{prefix}:src-{uuid.uuid4().hex[:10]}"  # under the prefix: deleted after the test


async def _keys_of(redis: Redis, pattern: str) -> set[str]:
    return {k.decode() async for k in redis.scan_iter(match=pattern)}


async def test_write_list_makes_tasks_and_empties_processing(
    redis: Redis, broker: Broker, prefix: str
) -> None:
    store, keys = IntakeStore(broker), intake_keys(prefix, _name(prefix))
    await redis.lpush(keys.source, "a", "b")
    moved = await store.move(keys, "c1", 10_000, 0.1, 5)
    assert moved == [b"a", b"b"]
    tasks = [IntakeTask("t1", "x.ok", b'{"v":1}'), IntakeTask("t2", "u", b"b", "bad")]
    assert await store.write_list(keys, "c1", "default", 3, tasks) == 2
    qk = broker.keys.queue("default")
    assert await redis.exists(keys.processing("c1")) == 0
    assert await redis.lrange(qk.pending, 0, -1) == [b"t1"]
    assert await redis.zrange(qk.archived, 0, -1) == [b"t2"]
    assert await redis.hmget(qk.task("t1"), "t", "p", "m", "s") == [b"x.ok", b'{"v":1}', b"3", None]
    assert await redis.hmget(qk.task("t2"), "s", "err", "p") == [b"archived", b"bad", b"b"]


async def test_write_list_writes_nothing_when_processing_changed(
    redis: Redis, broker: Broker, prefix: str
) -> None:
    """A resend after a lost reply, or a sweep that gave the items back: no task twice."""
    store, keys = IntakeStore(broker), intake_keys(prefix, _name(prefix))
    await redis.lpush(keys.source, "a")
    await store.move(keys, "c1", 10_000, 0.1, 1)
    task = [IntakeTask("t1", "x", b"{}")]
    assert await store.write_list(keys, "c1", "default", 0, task) == 1
    assert await store.write_list(keys, "c1", "default", 0, task) == 0
    assert await redis.llen(broker.keys.queue("default").pending) == 1


async def test_recover_gives_expired_consumers_items_back_in_order(
    redis: Redis, broker: Broker, prefix: str
) -> None:
    store, keys = IntakeStore(broker), intake_keys(prefix, _name(prefix))
    await redis.lpush(keys.source, "1", "2", "3", "4")
    assert await store.move(keys, "dead", -1, 0.1, 2) == [b"1", b"2"]  # a lease already over
    assert await store.move(keys, "alive", 60_000, 0.1, 1) == [b"3"]
    assert await store.recover_list(keys) == (1, 2)
    assert await redis.lrange(keys.source, 0, -1) == [b"4", b"2", b"1"]  # 1 is taken next
    assert await redis.lrange(keys.processing("alive"), 0, -1) == [b"3"]
    # still listed (a late move may land yet), forgotten once long expired
    assert await redis.zrange(keys.consumers, 0, -1) == [b"dead", b"alive"]
    assert await store.recover_list(keys, forget_after_ms=-1000) == (1, 0)
    assert await redis.zrange(keys.consumers, 0, -1) == [b"alive"]
    assert await store.recover_list(keys, "alive") == (1, 1)  # its own release
    assert await redis.lrange(keys.source, 0, -1) == [b"4", b"2", b"1", b"3"]


async def test_a_move_landing_after_the_deadline_is_still_swept(
    redis: Redis, broker: Broker, prefix: str
) -> None:
    """A consumer's move resent after its deadline passed (redis-py retries a dropped
    connection) lands in a processing list the sweep still visits."""
    store, keys = IntakeStore(broker), intake_keys(prefix, _name(prefix))
    await redis.zadd(keys.consumers, {"late": 1_000})  # long expired, not yet forgotten
    await store.recover_list(keys, forget_after_ms=10**15)
    await redis.lpush(keys.processing("late"), "landed late")
    assert await store.recover_list(keys, forget_after_ms=10**15) == (1, 1)
    assert await redis.lrange(keys.source, 0, -1) == [b"landed late"]


async def test_move_waits_then_returns_nothing_on_an_empty_list(
    redis: Redis, broker: Broker, prefix: str
) -> None:
    store, keys = IntakeStore(broker), intake_keys(prefix, _name(prefix))
    assert await store.move(keys, "c1", 10_000, 0.05, 10) == []
    assert await redis.zscore(keys.consumers, "c1") is not None  # the lease was renewed
    assert await _keys_of(redis, keys.source + "*") == set()  # the list is not created


async def test_write_stream_skips_entries_pending_for_another_consumer(
    redis: Redis, broker: Broker, prefix: str
) -> None:
    store, stream = IntakeStore(broker), _name(prefix)
    await store.create_group(stream, "g", "0")
    await store.create_group(stream, "g", "0")  # an existing group is kept
    first = (await redis.xadd(stream, {"n": "1"})).decode()
    second = (await redis.xadd(stream, {"n": "2"})).decode()
    mine = await store.read(stream, "g", "me", 1, 0.1, own=False)
    theirs = await store.read(stream, "g", "other", 1, 0.1, own=False)
    assert [e.id for e in mine] == [first] and [e.id for e in theirs] == [second]
    entries = [(first, IntakeTask("t1", "x", b"{}")), (second, IntakeTask("t2", "x", b"{}"))]
    assert await store.write_stream(stream, "g", "me", "default", 0, entries) == 1
    assert await redis.lrange(broker.keys.queue("default").pending, 0, -1) == [b"t1"]
    pending = await redis.xpending_range(stream, "g", "-", "+", 10)
    assert [(p["message_id"].decode(), p["consumer"]) for p in pending] == [(second, b"other")]
    assert await store.write_stream(stream, "g", "me", "default", 0, entries) == 0  # a resend


async def test_claim_takes_idle_entries_and_reports_deleted_ones(
    redis: Redis, broker: Broker, prefix: str
) -> None:
    store, stream = IntakeStore(broker), _name(prefix)
    await store.create_group(stream, "g", "0")
    kept = (await redis.xadd(stream, {"n": "1"})).decode()
    gone = (await redis.xadd(stream, {"n": "2"})).decode()
    await store.read(stream, "g", "dead", 10, 0.1, own=False)
    await redis.xdel(stream, gone)
    claimed = await store.claim(stream, "g", "me", 0, 10)
    assert StreamEntry(kept, {b"n": b"1"}) in claimed
    assert StreamEntry(gone, None) in claimed
    own = await store.read(stream, "g", "me", 10, 0.1, own=True)
    assert [e.id for e in own] == [kept]
