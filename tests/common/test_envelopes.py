"""Envelopes (common/envelope.py): a task sent on its own to run now waits whole as one entry of
its pending list, with no task hash until a lease (dequeue, the blocking take) or a pin
(cancel, watch) writes it. Against the real test Redis: what a send writes, what a lease
writes, FIFO order among bare ids and envelopes, get / cancel / wait of a task still waiting
as an envelope, the checking forms of push_envelope.lua and enqueue_many.lua, and the bytes
saved. Envelopes are written on the pipelining connection only: every test here is "wire"."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Any

import pytest
import redis as sync_redis
from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.calls import FIND_STRETCH
from tandemq.common.clock import now_ms
from tandemq.common.envelope import MAX_PAYLOAD, decode, encode, entry_id, is_envelope
from tandemq.common.errors import TaskIdConflict
from tandemq.common.keys import Keys, QueueKeys
from tandemq.common.sync_broker import SyncBroker
from tandemq.common.take import BlockingTake
from tandemq.common.task import Field, NewTask, TaskState
from tandemq.common.task_hash import hash_fields
from tandemq.common.transport import checked
from tandemq.distributor import Distributor
from tandemq.distributor.core import new_task_id
from tandemq.processor import TaskContext
from tests.conftest import ProcessorFactory
from tests.support import CuttingProxy, RedisServer, eventually

pytestmark = pytest.mark.wire

TYPE = "tests.Job"
LEASE = 60_000
OWNER = "host:1:w"


class Job(BaseModel):
    n: int = 0


class Blob(BaseModel):
    s: str


def _plain(n: int = 1, max_retry: int = 3, **extra: Any) -> NewTask:
    """A task as a plain send builds it: a generated id, no nonce (fits an envelope)."""
    payload = b'{"n":%d}' % n
    return NewTask(new_task_id(), "default", TYPE, payload, max_retry, now_ms(), **extra)


def _hashed(n: int = 1) -> NewTask:
    """A task with a caller's id (and nonce): written as a task hash."""
    task = _plain(n)
    task.id, task.nonce = f"own-{uuid.uuid4().hex[:8]}", "abcdefgh"
    return task


@pytest.fixture
def qk(prefix: str) -> QueueKeys:
    return Keys(prefix).queue("default")


async def _entries(redis: Redis, qk: QueueKeys) -> list[bytes]:
    return list(await redis.lrange(qk.pending, 0, -1))


async def _hash(redis: Redis, qk: QueueKeys, task_id: str) -> dict[bytes, bytes]:
    return dict(await redis.hgetall(qk.task(task_id)))


def _written(task: NewTask) -> dict[bytes, bytes]:
    """The fields a task's hash holds from its send (payload of 64 bytes or less)."""
    pairs = [Field.TYPE, task.type, Field.PAYLOAD, task.payload.decode(), *hash_fields(task)]
    return {str(k).encode(): str(v).encode() for k, v in zip(pairs[::2], pairs[1::2], strict=True)}


# -- what a send writes -----------------------------------------------------------------------


async def test_plain_send_is_one_list_entry_and_no_hash(
    distributor: Distributor, redis: Redis, prefix: str, qk: QueueKeys
) -> None:
    info = await distributor.send(Job(n=7))
    entries = await _entries(redis, qk)
    assert len(entries) == 1 and is_envelope(entries[0])
    task_id, fields = decode(entries[0])
    assert task_id == info.id
    assert fields[b"t"] == info.type.encode() and fields[b"p"] == b'{"n":7}'
    keys = {k async for k in redis.scan_iter(match=f"{prefix}:*")}
    assert keys == {qk.pending.encode(), f"{prefix}:queues".encode()}  # no task hash
    # a caller's own id, as a contrast, is a hash and a bare id
    own = await distributor.send(Job(n=8), task_id="mine")
    assert (await _entries(redis, qk))[0] == own.id.encode()
    assert await redis.exists(qk.task(own.id)) == 1


async def test_a_payload_over_2kb_is_a_hash_not_an_envelope(
    distributor: Distributor, redis: Redis, qk: QueueKeys
) -> None:
    # A list walk by id copies whole entries into Lua: large payloads stay in hashes.
    big = await distributor.send(Blob(s="x" * MAX_PAYLOAD))
    small = await distributor.send(Blob(s="x" * (MAX_PAYLOAD - 20)))
    entries = await _entries(redis, qk)
    assert entries[1] == big.id.encode() and await redis.exists(qk.task(big.id)) == 1
    assert is_envelope(entries[0]) and decode(entries[0])[0] == small.id


async def test_an_id_not_of_the_generated_form_is_never_an_envelope(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    """An outbox row's own id carries no nonce: as an envelope, get and cancel (which only
    look for ids of the generated form) could never find it."""
    task = _plain()
    task.id = "order-17"
    await broker.enqueue(task)
    assert await _entries(redis, qk) == [b"order-17"]
    info = await broker.get("default", "order-17")
    assert info is not None and info.state is TaskState.PENDING
    assert await broker.cancel("default", "order-17") == "canceled"


# -- leases -----------------------------------------------------------------------------------


async def test_dequeue_leases_an_envelope_writing_the_hash_a_send_would_have(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    """The same task sent as an envelope and as a hash (another id) is leased alike: same
    message, and the envelope's hash then holds every field the other's does."""
    enveloped = _plain(5, max_retry=7, timeout_ms=1500, deadline_ms=2_000_000_000_000,
                       retention_ms=9000, result_ttl_ms=77_000, headers='{"trace":"t-1"}')  # fmt: skip
    twin = replace(enveloped, id="twin")
    await broker.enqueue(enveloped)
    await broker.enqueue(twin)
    assert is_envelope((await _entries(redis, qk))[1]) and not await _hash(redis, qk, enveloped.id)
    taken, missing = await broker.dequeue({"default": 2}, OWNER, LEASE)
    assert missing == []
    first, second = taken["default"]
    assert (first.id, second.id) == (enveloped.id, "twin")
    assert replace(first, id="twin") == second
    assert first.headers == {"trace": "t-1"} and first.timeout_ms == 1500
    assert await _hash(redis, qk, enveloped.id) == await _hash(redis, qk, "twin")
    assert _written(enveloped).items() <= (await _hash(redis, qk, enveloped.id)).items()
    assert set(await redis.zrange(qk.active, 0, -1)) == {enveloped.id.encode(), b"twin"}
    assert await redis.exists(qk.pending) == 0


async def test_blocking_take_leases_an_envelope_and_writes_its_hash(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    wire = broker.transport.blocking_wire()
    assert wire is not None
    take = BlockingTake(broker, wire, "default", OWNER)
    task = _plain(3, timeout_ms=2500)
    try:
        waiting = asyncio.create_task(take.take(LEASE, 5000))
        await broker.enqueue(task)
        tasks, missing = await asyncio.wait_for(waiting, 5)
    finally:
        await take.aclose()
    assert [t.id for t in tasks] == [task.id] and missing == []
    assert (tasks[0].payload, tasks[0].timeout_ms, tasks[0].max_retry) == (b'{"n":3}', 2500, 3)
    fields = await _hash(redis, qk, task.id)
    assert _written(task).items() <= fields.items()
    assert (fields[b"s"], fields[b"o"]) == (b"active", OWNER.encode())
    assert await redis.zscore(qk.active, task.id) is not None
    assert await redis.exists(qk.pending, qk.taking(OWNER)) == 0


async def test_an_envelope_whose_id_has_a_key_of_the_wrong_type_loses_no_other_task(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    """Writing the envelope's hash fails (WRONGTYPE) after the batch was popped: the lease
    goes on, the bad one archived, the others leased (none lost); a pin leaves it alone."""
    first, bad, last = _plain(1), _plain(2), _plain(3)
    for task in (first, bad, last):
        await broker.enqueue(task)
    await redis.set(qk.task(bad.id), "junk")
    assert await broker.find_envelope("default", bad.id, pin=True) == encode(bad)
    assert is_envelope((await _entries(redis, qk))[1])  # not pinned: no hash to write
    taken, missing = await broker.dequeue({"default": 10}, OWNER, LEASE)
    assert [m.id for m in taken["default"]] == [first.id, last.id]
    assert missing == [("default", bad.id)]
    assert set(await redis.zrange(qk.active, 0, -1)) == {first.id.encode(), last.id.encode()}
    assert await redis.zrange(qk.archived, 0, -1) == [bad.id.encode()]  # kept for an operator
    assert await redis.exists(qk.pending) == 0


async def test_a_malformed_entry_that_looks_like_an_envelope_loses_no_other_task(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    """An entry starting with the envelope mark but without its second mark (pushed by
    hand, or an id holding it): a lease reports it missing and leases the others."""
    first, last = _plain(1), _plain(2)
    await broker.enqueue(first)
    await redis.lpush(qk.pending, b"\x1ebroken")
    await broker.enqueue(last)
    taken, missing = await broker.dequeue({"default": 10}, OWNER, LEASE)
    assert [m.id for m in taken["default"]] == [first.id, last.id]
    assert [task_id for _, task_id in missing] == ["\x1ebroken"]
    assert await redis.exists(qk.pending) == 0


async def test_a_queue_of_bare_ids_and_envelopes_keeps_fifo_order(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    kinds = [False, True, True, False, True, False, True, True, True, False]
    tasks = [_plain(i) if enveloped else _hashed(i) for i, enveloped in enumerate(kinds)]
    for task in tasks[:5]:
        await broker.enqueue(task)
    await broker.enqueue_chunks([tasks[5:6], tasks[6:9]])  # send_many's path: chunks
    await broker.enqueue(tasks[9])
    assert [is_envelope(e) for e in reversed(await _entries(redis, qk))] == kinds
    got = []
    while len(got) < 10:
        taken, missing = await broker.dequeue({"default": 3}, OWNER, LEASE)
        assert missing == []
        got += [m.id for m in taken["default"]]
    assert got == [t.id for t in tasks]


# -- reads and actions on a task still waiting as an envelope ---------------------------------


async def test_get_of_an_envelope_says_pending_as_the_hash_would(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    enveloped = _plain(4, timeout_ms=1000, retention_ms=5000, headers='{"a":"b"}')
    twin = replace(enveloped, id="twin")
    await broker.enqueue(enveloped)
    await broker.enqueue(twin)
    info = await broker.get("default", enveloped.id)
    assert info is not None and info.state is TaskState.PENDING
    assert info.payload == {"n": 4}
    assert info.model_copy(update={"id": "twin"}) == await broker.get("default", "twin")
    assert is_envelope((await _entries(redis, qk))[1])  # a read pins nothing
    assert await broker.get("default", new_task_id()) is None


async def test_get_finds_an_envelope_deep_in_a_long_list(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    """5,000 entries, several stretches of find_envelope.lua: found near the consuming end
    and either side of a stretch's edge."""
    tasks = [_plain(i) for i in range(5000)]
    assert await broker.enqueue_chunks(tasks[s : s + 1000] for s in range(0, 5000, 1000)) == []
    assert await redis.llen(qk.pending) == 5000 > 2 * FIND_STRETCH
    # list index 0 is the newest (tasks[4999]); the oldest, tasks[0], is taken next
    for index in (4999, 4990, FIND_STRETCH - 1, FIND_STRETCH, 0):
        task = tasks[4999 - index]
        info = await broker.get("default", task.id)
        assert info is not None and info.state is TaskState.PENDING, index
        assert info.payload == {"n": 4999 - index}
    assert await redis.exists(*(qk.task(t.id) for t in tasks[:10])) == 0


async def test_cancel_of_a_pending_envelope_takes_only_it_out(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    tasks = [_plain(i) for i in range(5)]
    for task in tasks:
        await broker.enqueue(task)
    assert await broker.cancel("default", tasks[0].id) == "canceled"  # the next to be taken
    assert await broker.cancel("default", tasks[2].id) == "canceled"
    kept = [tasks[4], tasks[3], tasks[1]]
    assert await _entries(redis, qk) == [encode(t) for t in kept]  # untouched, in order
    info = await broker.get("default", tasks[2].id)
    assert info is not None and info.state is TaskState.CANCELED
    assert await broker.cancel("default", tasks[2].id) == "finished"
    taken, _ = await broker.dequeue({"default": 5}, OWNER, LEASE)
    assert [m.id for m in taken["default"]] == [t.id for t in reversed(kept)]


class _LeasingBroker(Broker):
    """A broker whose envelope walk starts just after a processor leased the queue's tasks:
    the interleaving of a cancel or a wait with a lease, made certain."""

    async def find_envelope(self, queue: str, task_id: str, pin: bool = False) -> bytes | None:
        await self.dequeue({queue: 100}, OWNER, LEASE)
        return await super().find_envelope(queue, task_id, pin)


async def test_cancel_or_watch_that_misses_a_task_leased_meanwhile_finds_it_running(
    redis: Redis, prefix: str, qk: QueueKeys
) -> None:
    broker = _LeasingBroker(redis, Keys(prefix))
    await broker.load_scripts()
    first, second = _plain(1), _plain(2)
    await broker.enqueue(first)
    await broker.enqueue(second)
    assert await broker.watch("default", first.id) == 1  # WATCH_REGISTERED
    assert await redis.hexists(qk.task(first.id), "w")
    assert await broker.cancel("default", second.id) == "canceling"  # running: told to stop


async def test_wait_on_a_pending_envelope_pins_it_and_completion_wakes_the_waiter(
    make_processor: ProcessorFactory,
    distributor: Distributor,
    redis: Redis,
    qk: QueueKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tandemq.distributor import core  # noqa: PLC0415 - patched for this test only

    monkeypatch.setattr(core, "WAIT_RECHECK", 60.0)  # finished sooner: it was woken
    other = await distributor.send(Job(n=1))
    info = await distributor.send(Job(n=2))
    waiter = asyncio.create_task(distributor.wait(info.id, timeout=30))
    await eventually(lambda: redis.hexists(qk.task(info.id), "w"), bool)
    entries = await _entries(redis, qk)
    assert entries == [info.id.encode(), encode_of(entries[1], other.id)]  # pinned in place
    assert _written_subset(await _hash(redis, qk, info.id))
    p = await make_processor()

    @p.handler(Job)
    async def job(task: Job, ctx: TaskContext) -> int:
        return task.n * 10

    async with p:
        done = await asyncio.wait_for(waiter, 20)
    assert (done.state, done.result) == ("completed", 20)


def encode_of(entry: bytes, task_id: str) -> bytes:
    """``entry`` if it is ``task_id``'s envelope (the other task, left as it was)."""
    assert is_envelope(entry) and entry_id(entry) == task_id
    return entry


def _written_subset(fields: dict[bytes, bytes]) -> bool:
    return {b"t", b"p", b"m", b"e", b"w"} <= set(fields)


async def test_sync_broker_reads_and_cancels_an_envelope_of_the_async_broker(
    broker: Broker, redis: Redis, redis_url: str, prefix: str, qk: QueueKeys
) -> None:
    kept, canceled = _plain(1), _plain(2)
    await broker.enqueue(kept)
    await broker.enqueue(canceled)
    with sync_redis.Redis.from_url(redis_url) as client:
        sync = SyncBroker(client, Keys(prefix))
        sync.load_scripts()
        info = sync.get("default", kept.id)
        assert info == await broker.get("default", kept.id)
        assert info is not None and info.state is TaskState.PENDING and info.payload == {"n": 1}
        assert sync.cancel("default", canceled.id) == "canceled"
        assert sync.get("default", canceled.id).state is TaskState.CANCELED  # type: ignore[union-attr]
    assert await _entries(redis, qk) == [encode(kept)]


# -- sent again -------------------------------------------------------------------------------


async def test_push_envelope_checking_form_writes_nothing_after_a_landed_first_try(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    task = _plain()
    name, keys, args = broker._enqueue_call(task, envelope=True)
    assert name == "push_envelope" and args[3] == "e"
    again = checked([(name, keys, args)])[0]
    check_only = (name, keys, (*args[:3], "k"))
    assert await broker._call(*check_only) == 2  # not landed
    assert await broker._call(*again) == 1  # pushed
    assert await broker._call(*again) == 0  # landed: still pending (LPOS)
    assert await broker._call(*check_only) == 0
    assert await _entries(redis, qk) == [encode(task)]
    await broker.dequeue({"default": 1}, OWNER, LEASE)
    assert await broker._call(*again) == 0  # landed and leased (EXISTS)
    assert await redis.exists(qk.pending) == 0


async def test_enqueue_many_checking_form_writes_nothing_after_a_landed_first_try(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    tasks = [_plain(i) for i in range(4)]
    (first,) = broker._enqueue_many_calls(tasks, envelope=True)
    assert first[2][4] == "e"
    (again,) = checked([first])
    assert await broker._call(*first) == []
    entries = await _entries(redis, qk)
    assert [entry_id(e) for e in reversed(entries)] == [t.id for t in tasks]
    assert await broker._call(*again) == [t.id.encode() for t in tasks]  # all "existing"
    assert await _entries(redis, qk) == entries  # newest still pending (LPOS): nothing more
    await broker.dequeue({"default": 4}, OWNER, LEASE)
    assert len(await broker._call(*again)) == 4  # all leased (EXISTS)
    assert await redis.exists(qk.pending) == 0


async def test_enqueue_many_writes_hashes_so_a_batch_sent_again_is_told_existing(
    broker: Broker, redis: Redis, qk: QueueKeys
) -> None:
    """The outbox relay sends a batch again after a crash before its rows were deleted: it
    learns which tasks landed only from enqueue_many's answer."""
    tasks = [_plain(i) for i in range(3)]
    assert await broker.enqueue_many(tasks[:2]) == []
    assert sorted(await broker.enqueue_many(tasks)) == sorted(t.id for t in tasks[:2])
    assert sorted(await _entries(redis, qk)) == sorted(t.id.encode() for t in tasks)


async def test_an_envelope_cut_mid_command_is_sent_again_and_written_once(
    redis_url: str, redis: Redis, prefix: str, qk: QueueKeys
) -> None:
    async with CuttingProxy(redis_url, cut_after=10**12) as proxy:
        client = Redis.from_url(proxy.url)
        try:
            broker = Broker(client, Keys(prefix))
            await broker.load_scripts()
            await broker.register_queues(["default"])
            proxy.cut_after = proxy.forwarded + 20  # inside the next command: the EVALSHA
            first, second = _plain(1), _plain(2)
            await broker.enqueue(first)
            await broker.enqueue(second)  # and the pool goes on working
        finally:
            await client.aclose()
    assert proxy.cuts == 1
    assert await _entries(redis, qk) == [encode(second), encode(first)]


async def test_an_envelope_that_landed_before_the_cut_is_not_written_again(
    redis_url: str, redis: Redis, prefix: str, qk: QueueKeys
) -> None:
    """Three concurrent sends: the second and third leave in one write, cut one byte into the
    third, so Redis runs the second whose reply is lost. Sent again (checking form), it is
    found landed (TaskIdConflict, which Distributor.send takes as written) and not pushed."""
    async with CuttingProxy(redis_url, cut_after=10**12) as proxy:
        client = Redis.from_url(proxy.url)
        try:
            broker = Broker(client, Keys(prefix))
            await broker.load_scripts()
            await broker.register_queues(["default"])
            before = proxy.forwarded
            await broker.enqueue(_plain(0))  # measures one command (all are the same size)
            size = proxy.forwarded - before
            tasks = [_plain(i) for i in (1, 2, 3)]
            proxy.cut_after = proxy.forwarded + 2 * size + 1
            results = await asyncio.gather(
                *(broker.enqueue(t) for t in tasks), return_exceptions=True
            )
        finally:
            await client.aclose()
    assert proxy.cuts == 1
    assert any(isinstance(r, TaskIdConflict) for r in results), results
    assert all(r is None or isinstance(r, TaskIdConflict) for r in results), results
    ids = [entry_id(e) for e in await _entries(redis, qk)]
    assert sorted(ids[:3]) == sorted(t.id for t in tasks) and len(ids) == 4  # each once


# -- bytes ------------------------------------------------------------------------------------


async def _used_after(url: str, send: Any) -> int:
    """INFO used_memory after ``send(distributor)`` ran and the distributor was closed."""
    async with Distributor(redis_url=url, prefix="mem") as d:
        await send(d)
    async with Redis.from_url(url) as client:
        return int((await client.info("memory"))["used_memory"])


async def test_envelopes_take_fewer_bytes_per_task_than_task_hashes() -> None:
    server = RedisServer().start()
    try:

        async def warm(d: Distributor) -> None:  # scripts loaded, connections made ...
            await d.send(Job(), queue="c")
            await d.send(Job(), queue="c", task_id="warm")

        base = await _used_after(server.url, warm)

        async def plain(d: Distributor) -> None:
            await asyncio.gather(*(d.send(Job(n=i), queue="a") for i in range(2000)))

        async def own_ids(d: Distributor) -> None:
            await asyncio.gather(
                *(d.send(Job(n=i), queue="b", task_id=f"own-{i:018d}") for i in range(2000))
            )

        after_plain = await _used_after(server.url, plain)
        after_hashed = await _used_after(server.url, own_ids)
        a, b = Keys("mem").queue("a").pending, Keys("mem").queue("b").pending
        async with Redis.from_url(server.url) as client:
            assert await client.llen(a) == await client.llen(b) == 2000
            assert is_envelope(await client.lindex(a, 0))
            assert not is_envelope(await client.lindex(b, 0))  # the same id length: 22
    finally:
        server.stop()
    per_envelope = (after_plain - base) / 2000
    per_hash = (after_hashed - after_plain) / 2000
    assert per_envelope < per_hash, (per_envelope, per_hash)
