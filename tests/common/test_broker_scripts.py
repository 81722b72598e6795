"""Every Lua script, driven through the Broker API against the real test Redis: what each one
writes (hash fields, list/ZSET membership and scores), what it refuses, and what it returns.
Also: scripts are loaded once, and a SCRIPT FLUSH on the server is survived (NOSCRIPT reload)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection

from tandemq.common.broker import Broker
from tandemq.common.clock import from_ms, now_ms
from tandemq.common.errors import BrokerUnavailable, DuplicateTask, TaskIdConflict
from tandemq.common.keys import Keys, QueueKeys
from tandemq.common.scripts import SCRIPTS
from tandemq.common.task import Field, NewTask, TaskState
from tandemq.common.wire import pack
from tests.support import CuttingProxy, eventually, free_port

TYPE = "tests.Job"
LEASE = 60_000


def _task(
    task_id: str | None = None,
    *,
    queue: str = "default",
    payload: bytes = b'{"n":1}',
    max_retry: int = 3,
    **extra: Any,
) -> NewTask:
    return NewTask(
        id=task_id or uuid.uuid4().hex,
        queue=queue,
        type=TYPE,
        payload=payload,
        max_retry=max_retry,
        enqueued_ms=now_ms(),
        **extra,
    )


@pytest.fixture
def keys(prefix: str) -> Keys:
    return Keys(prefix)


@pytest.fixture
def qk(keys: Keys) -> QueueKeys:
    return keys.queue("default")


async def _hash(redis: Redis, qk: QueueKeys, task_id: str) -> dict[str, str]:
    raw = await redis.hgetall(qk.task(task_id))
    return {k.decode(): v.decode() for k, v in raw.items()}


async def _list(redis: Redis, key: str) -> list[str]:
    return [v.decode() for v in await redis.lrange(key, 0, -1)]


async def _zset(redis: Redis, key: str) -> dict[str, float]:
    return {m.decode(): s for m, s in await redis.zrange(key, 0, -1, withscores=True)}


async def _lease(broker: Broker, tasks: list[NewTask], owner: str, lease_ms: int = LEASE) -> None:
    """Enqueue ``tasks`` (all pending, one queue) and dequeue them all for ``owner``."""
    for task in tasks:
        await broker.enqueue(task)
    queue = tasks[0].queue
    taken, missing = await broker.dequeue({queue: len(tasks)}, owner, lease_ms)
    assert missing == []
    assert sorted(m.id for m in taken[queue]) == sorted(t.id for t in tasks)


# -- enqueue ----------------------------------------------------------------------------------


async def test_enqueue_without_due_time_is_pending(
    broker: Broker, redis: Redis, keys: Keys, qk: QueueKeys
) -> None:
    task = _task("t1", max_retry=4)
    await broker.enqueue(task)
    fields = await _hash(redis, qk, "t1")
    # Defaults are not written (absent state reads as pending, absent retried as 0).
    assert fields == {
        Field.TYPE: TYPE,
        Field.PAYLOAD: '{"n":1}',
        Field.MAX_RETRY: "4",
        Field.ENQUEUED: str(task.enqueued_ms),
    }
    info = await broker.get("default", "t1")
    assert info is not None and (info.state, info.retried) == ("pending", 0)
    assert await _list(redis, qk.pending) == ["t1"]
    assert await redis.zcard(qk.scheduled) == 0
    assert await redis.smembers(keys.queues) == {b"default"}


async def test_enqueue_with_due_time_is_scheduled(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    due = now_ms() + 60_000
    await broker.enqueue(_task("t1", due_ms=due))
    fields = await _hash(redis, qk, "t1")
    assert fields[Field.STATE] == "scheduled"
    assert fields[Field.DUE] == str(due)
    assert await _zset(redis, qk.scheduled) == {"t1": due}
    assert await redis.llen(qk.pending) == 0
    info = await broker.get("default", "t1")
    assert info is not None
    assert info.state is TaskState.SCHEDULED
    assert info.next_process_at == from_ms(due)


async def test_enqueue_stores_optional_fields(broker: Broker, redis: Redis, qk: QueueKeys) -> None:
    deadline = now_ms() + 3_600_000
    await broker.enqueue(_task("t1", timeout_ms=2500, deadline_ms=deadline, retention_ms=90_000))
    fields = await _hash(redis, qk, "t1")
    assert fields[Field.TIMEOUT] == "2500"
    assert fields[Field.DEADLINE] == str(deadline)
    assert fields[Field.RETENTION] == "90000"
    assert Field.UNIQUE not in fields
    assert Field.DUE not in fields


async def test_enqueue_of_an_existing_id_is_a_conflict_and_changes_nothing(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await broker.enqueue(_task("t1", payload=b'{"n":1}'))
    with pytest.raises(TaskIdConflict) as caught:
        await broker.enqueue(_task("t1", payload=b'{"n":2}', due_ms=now_ms() + 60_000))
    assert caught.value.task_id == "t1"
    assert caught.value.queue == "default"
    assert (await _hash(redis, qk, "t1"))[Field.PAYLOAD] == '{"n":1}'
    assert await _list(redis, qk.pending) == ["t1"]
    assert await redis.zcard(qk.scheduled) == 0


async def test_same_id_in_another_queue_is_no_conflict(broker: Broker, keys: Keys) -> None:
    await broker.enqueue(_task("t1"))
    await broker.enqueue(_task("t1", queue="other"))
    assert await broker.get("other", "t1") is not None
    assert await broker.get("default", "t1") is not None


async def test_unique_lock_held_refuses_an_equal_task(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await broker.enqueue(_task("first", unique_ttl_ms=60_000))
    lock = qk.unique(TYPE, b'{"n":1}')
    assert await redis.get(lock) == b"first"
    assert 0 < await redis.pttl(lock) <= 60_000
    assert (await _hash(redis, qk, "first"))[Field.UNIQUE] == lock

    with pytest.raises(DuplicateTask) as caught:
        await broker.enqueue(_task("second", unique_ttl_ms=60_000))
    assert caught.value.holder == "first"
    assert not await redis.exists(qk.task("second"))
    assert await _list(redis, qk.pending) == ["first"]
    # A different payload, or the same payload in another queue, is another lock.
    await broker.enqueue(_task("third", payload=b'{"n":2}', unique_ttl_ms=60_000))
    await broker.enqueue(_task("fourth", queue="other", unique_ttl_ms=60_000))


async def test_unique_lock_expired_lets_an_equal_task_in(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await broker.enqueue(_task("first", unique_ttl_ms=1))
    lock = qk.unique(TYPE, b'{"n":1}')
    await eventually(lambda: redis.exists(lock), lambda n: n == 0)
    await broker.enqueue(_task("second", unique_ttl_ms=60_000))
    assert await redis.get(lock) == b"second"
    assert await _list(redis, qk.pending) == ["second", "first"]


async def test_enqueue_to_an_empty_queue_publishes_a_wake_up(
    broker: Broker, redis: Redis, keys: Keys
) -> None:
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.wake_channel)
    try:
        assert (await pubsub.get_message(timeout=5))["type"] == "subscribe"
        await broker.enqueue(_task("a"))  # empty -> non-empty: wake-up
        await broker.enqueue(_task("b"))  # already non-empty: none
        await broker.enqueue(_task("c", due_ms=now_ms() + 60_000))  # scheduled: none
        await broker.enqueue(_task("d", queue="other"))  # another empty queue: wake-up
        got = []
        for _ in range(2):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
            assert message is not None
            got.append(message["data"])
        assert got == [b"default", b"other"]
    finally:
        await pubsub.aclose()


async def test_concurrent_enqueues_each_get_their_own_result(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await broker.enqueue(_task("taken"))
    ids = [f"c{i}" for i in range(50)]
    results = await asyncio.gather(
        *(broker.enqueue(_task(i)) for i in [*ids[:25], "taken", *ids[25:]]),
        return_exceptions=True,
    )
    assert [type(r).__name__ for r in results].count("TaskIdConflict") == 1
    assert isinstance(results[25], TaskIdConflict)
    assert sorted(await _list(redis, qk.pending)) == sorted([*ids, "taken"])


async def test_an_enqueue_sent_again_with_its_nonce_is_not_a_conflict(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    """A send with the caller's own task_id whose reply was lost is sent again as the same
    call (same nonce): it reports written; another call with that id (another nonce, or
    none) is a conflict."""
    first = _task("mine", nonce="abc")
    await broker.enqueue(first)
    await broker.enqueue(first)  # the same call again: no TaskIdConflict
    for other in (_task("mine", nonce="xyz"), _task("mine")):
        with pytest.raises(TaskIdConflict):
            await broker.enqueue(other)
    assert await _list(redis, qk.pending) == ["mine"]  # written once
    assert (await _hash(redis, qk, "mine"))[Field.NONCE] == "abc"


# -- enqueue_many -----------------------------------------------------------------------------


async def test_enqueue_many_writes_every_task_in_fifo_order(
    broker: Broker, redis: Redis, keys: Keys, qk: QueueKeys
) -> None:
    due = now_ms() + 60_000
    tasks = [_task("a"), _task("b"), _task("s", due_ms=due), _task("c"), _task("x", queue="other")]
    await broker.enqueue_many(tasks)
    taken, _ = await broker.dequeue({"default": 10}, "w", LEASE)
    assert [m.id for m in taken["default"]] == ["a", "b", "c"]
    assert await _zset(redis, qk.scheduled) == {"s": due}
    assert await _list(redis, keys.queue("other").pending) == ["x"]
    assert await redis.smembers(keys.queues) == {b"default", b"other"}


async def test_enqueue_chunks_keeps_order_across_chunks(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    tasks = [_task(f"c{i:04d}") for i in range(2500)]
    existed = await broker.enqueue_chunks(tasks[s : s + 1000] for s in range(0, 2500, 1000))
    assert existed == []
    assert list(reversed(await _list(redis, qk.pending))) == [t.id for t in tasks]  # FIFO


@pytest.mark.wire  # the pipelining connection's own behaviour
async def test_enqueue_chunks_survives_a_connection_cut_mid_stream(
    redis_url: str, redis: Redis, prefix: str, qk: QueueKeys
) -> None:
    """The streamed connection drops after about two chunks have gone out: those are written,
    the rest is not. Every call is sent again on a new connection; what had landed is
    reported as existing and written once."""
    tasks = [_task(f"s{i:04d}", payload=b'{"s":"' + b"x" * 100 + b'"}') for i in range(5000)]
    async with CuttingProxy(redis_url, cut_after=10**12) as proxy:
        client = Redis.from_url(proxy.url)
        try:
            broker = Broker(client, Keys(prefix))
            await broker.load_scripts()
            # counted from here, not from the start: the scripts' own bytes grow with each one
            proxy.cut_after = proxy.forwarded + 350_000
            chunks = (tasks[s : s + 1000] for s in range(0, 5000, 1000))
            existed = await broker.enqueue_chunks(chunks)
        finally:
            await client.aclose()
    assert proxy.cuts == 1
    assert 0 < len(existed) < 5000  # some had landed before the cut; they were not rewritten
    pending = await _list(redis, qk.pending)
    assert sorted(pending) == [t.id for t in tasks]  # each exactly once


@pytest.mark.wire  # the pipelining connection's own behaviour
async def test_an_enqueue_cut_mid_command_is_sent_again_and_written_once(
    redis_url: str, redis: Redis, prefix: str, qk: QueueKeys
) -> None:
    """enqueue writes on a pooled connection directly (common/wire.py); when that connection
    dies under it, the call goes again through redis-py, which reconnects."""
    async with CuttingProxy(redis_url, cut_after=10**12) as proxy:
        client = Redis.from_url(proxy.url)
        try:
            broker = Broker(client, Keys(prefix))
            await broker.load_scripts()
            await broker.register_queues(["default"])
            proxy.cut_after = proxy.forwarded + 20  # inside the next command: the EVALSHA
            await broker.enqueue(_task("t1"))
            await broker.enqueue(_task("t2"))  # and the pool goes on working
        finally:
            await client.aclose()
    assert proxy.cuts == 1
    assert await _list(redis, qk.pending) == ["t2", "t1"]


def test_pack_writes_what_redis_py_writes() -> None:
    command = ["EVALSHA", "ab" * 20, 2, "k:{q}", b"\x00\xffbytes", "ünï", 0, -17, 10**15]
    assert pack(command) == b"".join(Connection().pack_command(*command))
    for bad in (1.5, True, None):
        with pytest.raises(TypeError):
            pack(["SET", "k", bad])  # type: ignore[list-item]


async def test_enqueue_many_over_one_batch(broker: Broker, redis: Redis, qk: QueueKeys) -> None:
    await broker.enqueue_many([_task(f"t{i}") for i in range(1100)])
    assert await redis.llen(qk.pending) == 1100


async def test_enqueue_many_returns_existing_ids_and_leaves_them_alone(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await broker.enqueue(_task("dup", payload=b'{"n":1}'))
    existed = await broker.enqueue_many(
        [_task("fresh"), _task("dup", payload=b'{"n":9}'), _task("fresh2")]
    )
    assert existed == ["dup"]
    assert (await _hash(redis, qk, "dup"))[Field.PAYLOAD] == '{"n":1}'
    assert await _list(redis, qk.pending) == ["fresh2", "fresh", "dup"]
    assert await broker.enqueue_many([]) == []


async def test_enqueue_many_keeps_each_tasks_own_options(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    due = now_ms() + 60_000
    await broker.enqueue_many(
        [
            _task("plain"),
            _task("timed", timeout_ms=1500, retention_ms=9000, max_retry=7),
            _task("later", due_ms=due, deadline_ms=due + 1),
        ]
    )
    plain, timed, later = [await _hash(redis, qk, i) for i in ("plain", "timed", "later")]
    assert Field.TIMEOUT not in plain
    assert (timed[Field.TIMEOUT], timed[Field.RETENTION], timed[Field.MAX_RETRY]) == (
        "1500",
        "9000",
        "7",
    )
    assert (later[Field.STATE], later[Field.DUE], later[Field.DEADLINE]) == (
        "scheduled",
        str(due),
        str(due + 1),
    )
    assert await _list(redis, qk.pending) == ["timed", "plain"]
    assert await _zset(redis, qk.scheduled) == {"later": due}


async def test_enqueue_many_refuses_unique_tasks_and_writes_nothing(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    with pytest.raises(ValueError, match="unique"):
        await broker.enqueue_many([_task("plain"), _task("first", unique_ttl_ms=60_000)])
    assert await redis.exists(qk.task("plain"), qk.task("first")) == 0


# -- dequeue ----------------------------------------------------------------------------------


async def test_dequeue_leases_up_to_the_count_in_fifo_order(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    tasks = [_task(f"t{i}", timeout_ms=1000 + i, deadline_ms=2_000_000_000_000) for i in range(5)]
    await broker.enqueue_many(tasks)
    before = now_ms()
    taken, missing = await broker.dequeue({"default": 3}, "worker-1", 30_000)
    after = now_ms()
    assert missing == []
    messages = taken["default"]
    assert [m.id for m in messages] == ["t0", "t1", "t2"]
    for message, task in zip(messages, tasks, strict=False):
        assert message.queue == "default"
        assert message.type == TYPE
        assert message.payload == b'{"n":1}'
        assert (message.retried, message.max_retry) == (0, 3)
        assert message.timeout_ms == task.timeout_ms
        assert message.deadline_ms == 2_000_000_000_000
        assert message.enqueued_ms == task.enqueued_ms
        assert message.corrupt is None
    active = await _zset(redis, qk.active)
    assert set(active) == {"t0", "t1", "t2"}
    assert all(before + 30_000 <= score <= after + 30_000 for score in active.values())
    for i in range(3):
        fields = await _hash(redis, qk, f"t{i}")
        assert (fields[Field.STATE], fields[Field.OWNER]) == ("active", "worker-1")
    assert await _list(redis, qk.pending) == ["t4", "t3"]
    assert Field.OWNER not in await _hash(redis, qk, "t3")


async def test_dequeue_serves_several_queues_in_one_call(broker: Broker, keys: Keys) -> None:
    await broker.enqueue_many([_task("d1"), _task("d2"), _task("h1", queue="high")])
    taken, missing = await broker.dequeue(
        {"default": 1, "high": 5, "low": 0, "empty": 2}, "w", 1000
    )
    assert missing == []
    assert {q: [m.id for m in ms] for q, ms in taken.items()} == {
        "default": ["d1"],
        "high": ["h1"],
        "empty": [],
    }


async def test_dequeue_does_not_lease_an_id_whose_hash_is_gone(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await broker.enqueue(_task("real"))
    await redis.lpush(qk.pending, "ghost")
    taken, missing = await broker.dequeue({"default": 5}, "w", LEASE)
    assert [m.id for m in taken["default"]] == ["real"]
    assert missing == [("default", "ghost")]
    assert set(await _zset(redis, qk.active)) == {"real"}
    assert not await redis.exists(qk.task("ghost"))
    assert await redis.llen(qk.pending) == 0


async def test_dequeue_marks_unreadable_fields_corrupt(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await broker.enqueue(_task("bad"))
    await redis.hset(qk.task("bad"), Field.RETRIED, "not-a-number")
    taken, missing = await broker.dequeue({"default": 1}, "w", LEASE)
    assert missing == []
    [message] = taken["default"]
    assert message.id == "bad"
    assert message.corrupt is not None
    assert "unreadable" in message.corrupt


async def test_dequeue_accounts_for_every_popped_id_even_a_key_of_the_wrong_type(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    """A key that is not a hash used to stop the script half-way with WRONGTYPE, after RPOP
    had taken the whole batch: the ids after it were in neither pending nor active (lost)."""
    await broker.enqueue(_task("first"))
    await redis.lpush(qk.pending, "notahash")
    await redis.set(qk.task("notahash"), "junk")
    await redis.lpush(qk.pending, "typeless")
    await redis.hset(qk.task("typeless"), Field.MAX_RETRY, "3")
    await broker.enqueue(_task("last"))
    taken, missing = await broker.dequeue({"default": 10}, "w", LEASE)
    messages = {m.id: m for m in taken["default"]}
    assert set(messages) == {"first", "typeless", "last"}
    assert messages["typeless"].corrupt == "task hash has no type field"
    assert messages["first"].corrupt is None and messages["last"].corrupt is None
    assert missing == [("default", "notahash")]
    assert set(await _zset(redis, qk.active)) == {"first", "typeless", "last"}
    assert set(await _zset(redis, qk.archived)) == {"notahash"}  # kept for an operator
    assert await redis.llen(qk.pending) == 0


async def test_a_dequeue_cut_mid_flight_is_not_sent_again(
    redis_url: str, broker: Broker, redis: Redis, prefix: str, qk: QueueKeys
) -> None:
    """Sent again, a dequeue whose first run's reply was lost would lease more tasks while the
    first ones sat leased to no one: it fails instead, and the fetcher reclaims."""
    await broker.enqueue_many([_task("t1"), _task("t2")])
    async with CuttingProxy(redis_url, cut_after=10**12) as proxy:
        client = Redis.from_url(proxy.url)
        try:
            cut = Broker(client, Keys(prefix))
            await cut.register_queues(["default"])
            await cut.extend("w", {"default": ["none"]}, LEASE)  # the wire is connected
            proxy.cut_after = proxy.forwarded + 20  # inside the next command: the dequeue
            with pytest.raises(BrokerUnavailable):
                await cut.dequeue({"default": 5}, "w", LEASE)
            await cut.aclose()
        finally:
            await client.aclose()
    assert proxy.cuts == 1
    assert await _list(redis, qk.pending) == ["t2", "t1"]  # cut before it ran; not resent


async def test_reclaim_gives_back_the_owners_unheld_live_leases_uncounted(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await broker.enqueue_many([_task(f"t{i}") for i in range(1, 6)])
    await broker.dequeue({"default": 3}, "w", LEASE)  # t1 t2 t3: w holds only t2
    await broker.dequeue({"default": 1}, "x", LEASE)  # t4: another processor's
    await broker.dequeue({"default": 1}, "w", -1000)  # t5: expired, the recoverer's
    assert await broker.reclaim(["default"], "w", {"default": ["t2"]}) == 2
    assert sorted(await _list(redis, qk.pending)) == ["t1", "t3"]
    assert set(await _zset(redis, qk.active)) == {"t2", "t4", "t5"}
    for task_id in ("t1", "t3"):
        fields = await _hash(redis, qk, task_id)
        assert fields[Field.STATE] == "pending"
        assert Field.OWNER not in fields and Field.RETRIED not in fields  # not an attempt
    assert await broker.reclaim(["default"], "w", {"default": ["t2"]}) == 0


# -- ack --------------------------------------------------------------------------------------


async def test_ack_by_the_owner_deletes_the_task(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await _lease(broker, [_task("t1")], "w1")
    assert await broker.ack("w1", {"default": ["t1"]}) == []
    assert await redis.zcard(qk.active) == 0
    assert not await redis.exists(qk.task("t1"))
    assert await redis.zcard(qk.completed) == 0
    assert await broker.ack("w1", {}) == []


async def test_ack_by_another_processor_is_refused(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await _lease(broker, [_task("t1")], "w1")
    assert await broker.ack("w2", {"default": ["t1"]}) == [("default", "t1")]
    assert set(await _zset(redis, qk.active)) == {"t1"}
    assert (await _hash(redis, qk, "t1"))[Field.OWNER] == "w1"


async def test_ack_after_the_lease_moved_to_another_owner_is_refused(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await _lease(broker, [_task("t1")], "w1", lease_ms=-1000)  # lease already expired
    assert await broker.recover(["default"], "lease expired") == (["t1"], [])
    await broker.forward(["default"])
    taken, _ = await broker.dequeue({"default": 1}, "w2", LEASE)
    assert [m.id for m in taken["default"]] == ["t1"]

    assert await broker.ack("w1", {"default": ["t1"]}) == [("default", "t1")]
    assert set(await _zset(redis, qk.active)) == {"t1"}
    assert (await _hash(redis, qk, "t1"))[Field.OWNER] == "w2"
    assert await broker.ack("w2", {"default": ["t1"]}) == []
    assert not await redis.exists(qk.task("t1"))


async def test_ack_with_retention_keeps_the_task_completed(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await _lease(broker, [_task("t1", retention_ms=120_000)], "w1")
    before = now_ms()
    assert await broker.ack("w1", {"default": ["t1"]}) == []
    after = now_ms()
    fields = await _hash(redis, qk, "t1")
    assert fields[Field.STATE] == "completed"
    assert Field.OWNER not in fields
    done = int(fields[Field.DONE])
    assert before <= done <= after
    assert await _zset(redis, qk.completed) == {"t1": done + 120_000}
    assert await redis.zcard(qk.active) == 0
    info = await broker.get("default", "t1")
    assert info is not None
    assert info.state is TaskState.COMPLETED
    assert info.completed_at == from_ms(done)


async def test_ack_releases_the_unique_lock_it_holds(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await _lease(broker, [_task("t1", unique_ttl_ms=60_000)], "w1")
    lock = qk.unique(TYPE, b'{"n":1}')
    assert await redis.get(lock) == b"t1"
    await broker.ack("w1", {"default": ["t1"]})
    assert not await redis.exists(lock)
    await broker.enqueue(_task("t2", unique_ttl_ms=60_000))  # no DuplicateTask any more


async def test_ack_leaves_a_unique_lock_now_held_by_another_task(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await _lease(broker, [_task("t1", unique_ttl_ms=60_000)], "w1")
    lock = qk.unique(TYPE, b'{"n":1}')
    await redis.set(lock, "t2")  # t1's lock expired and t2 took it
    await broker.ack("w1", {"default": ["t1"]})
    assert await redis.get(lock) == b"t2"


# -- retry ------------------------------------------------------------------------------------


async def test_retry_moves_the_task_to_retry_and_counts_it(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await _lease(broker, [_task("t1")], "w1")
    due = now_ms() + 5000
    assert await broker.retry("default", "t1", "w1", due, "ValueError: boom") is True
    assert await redis.zcard(qk.active) == 0
    assert await _zset(redis, qk.retry) == {"t1": due}
    fields = await _hash(redis, qk, "t1")
    assert fields[Field.STATE] == "retry"
    assert fields.get(Field.RETRIED, "0") == "1"
    assert fields[Field.DUE] == str(due)
    assert fields[Field.ERROR] == "ValueError: boom"
    assert Field.OWNER not in fields
    info = await broker.get("default", "t1")
    assert info is not None
    assert (info.state, info.retried, info.last_error) == ("retry", 1, "ValueError: boom")
    assert info.next_process_at == from_ms(due)
    assert info.failed_at is not None


async def test_retry_counts_every_attempt(broker: Broker, redis: Redis, qk: QueueKeys) -> None:
    await _lease(broker, [_task("t1")], "w1")
    for attempt in range(1, 4):
        assert await broker.retry("default", "t1", "w1", now_ms() - 1, f"error {attempt}")
        await broker.forward(["default"])
        taken, _ = await broker.dequeue({"default": 1}, "w1", LEASE)
        assert [m.retried for m in taken["default"]] == [attempt]
    fields = await _hash(redis, qk, "t1")
    assert (fields.get(Field.RETRIED, "0"), fields[Field.ERROR]) == ("3", "error 3")


async def test_retry_by_a_non_owner_changes_nothing(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await _lease(broker, [_task("t1")], "w1")
    before = await _hash(redis, qk, "t1")
    assert await broker.retry("default", "t1", "w2", now_ms(), "boom") is False
    assert await _hash(redis, qk, "t1") == before
    assert set(await _zset(redis, qk.active)) == {"t1"}
    assert await redis.zcard(qk.retry) == 0


# -- archive ----------------------------------------------------------------------------------


async def test_archive_keeps_the_task_and_its_error(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await _lease(broker, [_task("t1")], "w1")
    before = now_ms()
    assert await broker.archive("default", "t1", "w1", "Traceback: it broke") is True
    after = now_ms()
    archived = await _zset(redis, qk.archived)
    assert list(archived) == ["t1"]
    assert before <= archived["t1"] <= after
    assert await redis.zcard(qk.active) == 0
    fields = await _hash(redis, qk, "t1")
    assert fields[Field.STATE] == "archived"
    assert fields[Field.ERROR] == "Traceback: it broke"
    assert fields.get(Field.RETRIED, "0") == "0"
    assert Field.OWNER not in fields
    info = await broker.get("default", "t1")
    assert info is not None
    assert info.state is TaskState.ARCHIVED
    assert info.last_error == "Traceback: it broke"


async def test_archive_by_a_non_owner_changes_nothing(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await _lease(broker, [_task("t1")], "w1")
    assert await broker.archive("default", "t1", "w2", "boom") is False
    assert await redis.zcard(qk.archived) == 0
    assert (await _hash(redis, qk, "t1"))[Field.STATE] == "active"


# -- forward ----------------------------------------------------------------------------------


async def test_forward_moves_due_tasks_and_leaves_the_rest(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    later = now_ms() + 60_000
    await broker.enqueue_many(
        [_task("due", due_ms=now_ms() - 10), _task("later", due_ms=later), _task("r1")]
    )
    taken, _ = await broker.dequeue({"default": 1}, "w1", LEASE)
    assert [m.id for m in taken["default"]] == ["r1"]
    await broker.retry("default", "r1", "w1", now_ms() - 5, "boom")

    assert await broker.forward(["default"]) == later
    assert sorted(await _list(redis, qk.pending)) == ["due", "r1"]
    assert await _zset(redis, qk.scheduled) == {"later": later}
    assert await redis.zcard(qk.retry) == 0
    assert (await _hash(redis, qk, "due"))[Field.STATE] == "pending"
    assert (await _hash(redis, qk, "r1"))[Field.STATE] == "pending"
    assert (await _hash(redis, qk, "later"))[Field.STATE] == "scheduled"


async def test_forward_reports_the_earliest_retry_too(broker: Broker) -> None:
    assert await broker.forward(["default"]) is None
    await _lease(broker, [_task("r1")], "w1")
    due = now_ms() + 30_000
    await broker.retry("default", "r1", "w1", due, "boom")
    await broker.enqueue(_task("s1", due_ms=due + 1000))
    assert await broker.forward(["default", "other"]) == due


async def test_forward_moves_more_than_one_batch(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    past = now_ms() - 1000
    await broker.enqueue_many([_task(f"t{i}", due_ms=past) for i in range(1100)])
    await broker.forward(["default"])
    assert await redis.llen(qk.pending) == 1100
    assert await redis.zcard(qk.scheduled) == 0


async def test_forward_of_more_than_one_batch_reports_nothing_left(broker: Broker) -> None:
    past = now_ms() - 1000
    await broker.enqueue_many([_task(f"t{i}", due_ms=past) for i in range(1100)])
    assert await broker.forward(["default"]) is None


async def test_forward_does_not_create_a_hash_for_a_vanished_task(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await broker.enqueue(_task("gone", due_ms=now_ms() - 10))
    await redis.delete(qk.task("gone"))
    await broker.forward(["default"])
    assert await broker.get("default", "gone") is None


# -- recover ----------------------------------------------------------------------------------


async def test_recover_sends_an_expired_lease_to_retry(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await _lease(broker, [_task("t1", max_retry=2)], "w1", lease_ms=-1000)
    before = now_ms()
    assert await broker.recover(["default"], "LeaseExpired: w1 stopped") == (["t1"], [])
    assert await redis.zcard(qk.active) == 0
    retry = await _zset(redis, qk.retry)
    assert list(retry) == ["t1"]
    assert retry["t1"] >= before
    fields = await _hash(redis, qk, "t1")
    assert fields[Field.STATE] == "retry"
    assert fields.get(Field.RETRIED, "0") == "1"
    assert fields[Field.ERROR] == "LeaseExpired: w1 stopped"
    assert Field.OWNER not in fields
    # It is due at once: the next forward makes it pending again.
    await broker.forward(["default"])
    assert await _list(redis, qk.pending) == ["t1"]


async def test_recover_archives_when_retries_are_spent(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await _lease(broker, [_task("t1", max_retry=0)], "w1", lease_ms=-1000)
    assert await broker.recover(["default"], "lease expired") == ([], ["t1"])
    assert list(await _zset(redis, qk.archived)) == ["t1"]
    assert await redis.zcard(qk.retry) == 0
    fields = await _hash(redis, qk, "t1")
    assert (fields[Field.STATE], fields[Field.ERROR], fields.get(Field.RETRIED, "0")) == (
        "archived",
        "lease expired",
        "0",
    )


async def test_recover_leaves_unexpired_leases_alone(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await _lease(broker, [_task("live")], "w1", lease_ms=LEASE)
    await _lease(broker, [_task("dead")], "w2", lease_ms=-1000)
    active_before = await _zset(redis, qk.active)
    assert await broker.recover(["default"], "lease expired") == (["dead"], [])
    assert await _zset(redis, qk.active) == {"live": active_before["live"]}
    fields = await _hash(redis, qk, "live")
    assert (fields[Field.STATE], fields[Field.OWNER], fields.get(Field.RETRIED, "0")) == (
        "active",
        "w1",
        "0",
    )


async def test_recover_drops_an_active_id_whose_hash_is_gone(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await redis.zadd(qk.active, {"ghost": now_ms() - 1000})
    assert await broker.recover(["default"], "lease expired") == ([], [])
    assert await redis.zcard(qk.active) == 0
    assert not await redis.exists(qk.task("ghost"))


# -- extend -----------------------------------------------------------------------------------


async def test_extend_renews_only_the_owners_leases(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await _lease(broker, [_task("mine")], "w1", lease_ms=1000)
    await _lease(broker, [_task("theirs")], "w2", lease_ms=1000)
    old = await _zset(redis, qk.active)
    before = now_ms()
    lost = await broker.extend("w1", {"default": ["mine", "theirs"]}, 120_000)
    after = now_ms()
    assert lost == [("default", "theirs")]
    new = await _zset(redis, qk.active)
    assert before + 120_000 <= new["mine"] <= after + 120_000
    assert new["theirs"] == old["theirs"]
    assert await broker.extend("w1", {}, 1000) == []


async def test_extend_does_not_bring_back_a_recovered_task(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await _lease(broker, [_task("t1")], "w1", lease_ms=-1000)
    await broker.recover(["default"], "lease expired")
    assert await broker.extend("w1", {"default": ["t1"]}, LEASE) == [("default", "t1")]
    assert await redis.zcard(qk.active) == 0


# -- requeue ----------------------------------------------------------------------------------


async def test_requeue_puts_tasks_back_to_run_next_uncounted(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await broker.enqueue_many([_task("a"), _task("b"), _task("c")])
    taken, _ = await broker.dequeue({"default": 2}, "w1", LEASE)
    assert [m.id for m in taken["default"]] == ["a", "b"]
    assert await broker.requeue("w1", {"default": ["a", "b"]}) == 2
    assert await redis.zcard(qk.active) == 0
    for task_id in ("a", "b"):
        fields = await _hash(redis, qk, task_id)
        assert (fields[Field.STATE], fields.get(Field.RETRIED, "0")) == ("pending", "0")
        assert Field.OWNER not in fields
    # Back at the consuming end: they come out before c, which was waiting all along.
    again, _ = await broker.dequeue({"default": 2}, "w2", LEASE)
    assert sorted(m.id for m in again["default"]) == ["a", "b"]
    assert await _list(redis, qk.pending) == ["c"]


async def test_requeue_skips_tasks_leased_to_someone_else(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await _lease(broker, [_task("t1")], "w1")
    assert await broker.requeue("w2", {"default": ["t1"]}) == 0
    assert await broker.requeue("w2", {}) == 0
    assert set(await _zset(redis, qk.active)) == {"t1"}
    assert await redis.llen(qk.pending) == 0


# -- trim -------------------------------------------------------------------------------------


async def _archive_all(broker: Broker, ids: list[str]) -> None:
    await _lease(broker, [_task(i) for i in ids], "w1")
    for task_id in ids:
        assert await broker.archive("default", task_id, "w1", "boom")


async def test_trim_bounds_the_archive_by_size_oldest_first(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    ids = [f"a{i}" for i in range(5)]
    await _archive_all(broker, ids)
    now = now_ms()
    for age, task_id in zip(range(5, 0, -1), ids, strict=True):  # a0 oldest ... a4 newest
        await redis.zadd(qk.archived, {task_id: now - age * 1000}, xx=True)
    await broker.enqueue(_task("waiting"))
    assert await broker.trim(["default"], 2, 86_400_000) == 3
    assert sorted(await _zset(redis, qk.archived)) == ["a3", "a4"]
    for task_id in ("a0", "a1", "a2"):
        assert not await redis.exists(qk.task(task_id))
    for task_id in ("a3", "a4", "waiting"):
        assert await redis.exists(qk.task(task_id))
    assert await broker.trim(["default"], 2, 86_400_000) == 0


async def test_trim_bounds_the_archive_by_age(broker: Broker, redis: Redis, qk: QueueKeys) -> None:
    await _archive_all(broker, ["old", "new"])
    await redis.zadd(qk.archived, {"old": now_ms() - 10 * 86_400_000}, xx=True)
    assert await broker.trim(["default"], 1000, 86_400_000) == 1
    assert list(await _zset(redis, qk.archived)) == ["new"]
    assert not await redis.exists(qk.task("old"))
    assert await broker.get("default", "new") is not None


async def test_trim_deletes_completed_tasks_after_their_retention(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await _lease(
        broker, [_task("short", retention_ms=1), _task("long", retention_ms=3_600_000)], "w"
    )
    await broker.ack("w", {"default": ["short", "long"]})
    assert (
        await eventually(lambda: broker.trim(["default"], 1000, 86_400_000), lambda n: n > 0) == 1
    )
    assert list(await _zset(redis, qk.completed)) == ["long"]
    assert not await redis.exists(qk.task("short"))
    assert (await _hash(redis, qk, "long"))[Field.STATE] == "completed"


# -- script loading ---------------------------------------------------------------------------


async def _script_loads(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_script|load", {}).get("calls", 0))


async def test_scripts_are_loaded_once_and_then_called_by_sha(broker: Broker, redis: Redis) -> None:
    assert await redis.script_exists(*(s.sha for s in SCRIPTS.values())) == [True] * len(SCRIPTS)
    loads = await _script_loads(redis)
    await broker.enqueue_many([_task(f"t{i}") for i in range(5)])
    for i in range(5):
        await broker.enqueue(_task(f"u{i}"))
    taken, _ = await broker.dequeue({"default": 10}, "w", LEASE)
    await broker.ack("w", {"default": [m.id for m in taken["default"]]})
    await broker.forward(["default"])
    await broker.recover(["default"], "x")
    assert await _script_loads(redis) == loads


async def test_script_flush_on_the_server_is_survived(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    await broker.enqueue(_task("before"))
    await redis.script_flush()
    assert await redis.script_exists(SCRIPTS["enqueue"].sha) == [False]
    loads = await _script_loads(redis)
    await broker.enqueue(_task("after"))  # single call: NOSCRIPT -> load all -> repeat
    assert await _script_loads(redis) == loads + len(SCRIPTS)
    assert await redis.script_exists(*(s.sha for s in SCRIPTS.values())) == [True] * len(SCRIPTS)
    assert await _list(redis, qk.pending) == ["after", "before"]

    await redis.script_flush()
    await broker.enqueue_many([_task("m1", queue="other"), _task("m2")])  # pipelined calls
    taken, _ = await broker.dequeue({"default": 5, "other": 5}, "w", LEASE)
    assert sorted(m.id for ms in taken.values() for m in ms) == ["after", "before", "m1", "m2"]


async def test_a_broker_that_never_loaded_scripts_loads_them_on_first_use(
    redis: Redis, prefix: str, qk: QueueKeys
) -> None:
    await redis.script_flush()
    fresh = Broker(redis, Keys(prefix))
    await fresh.enqueue(_task("t1"))
    assert await _list(redis, qk.pending) == ["t1"]


async def test_an_unreachable_server_is_broker_unavailable() -> None:
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        broker = Broker(client, Keys("unreachable"), timeout=2.0)
        with pytest.raises(BrokerUnavailable):
            await broker.load_scripts()
        with pytest.raises(BrokerUnavailable):
            await broker.enqueue(_task("t1"))
        with pytest.raises(BrokerUnavailable):
            await broker.get("default", "t1")
    finally:
        await client.aclose()
