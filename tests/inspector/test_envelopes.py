"""The inspector on pending tasks that wait as envelopes (common/envelope.py: sent on their
own over the pipelining connection, no hash until leased), mixed with pending tasks that have
a hash (a caller's task_id, a task run again after a retry): listed, aged, read and acted on
exactly as hash tasks are."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from tandemq.common.broker import Broker, NewTask
from tandemq.common.clock import now_ms
from tandemq.common.envelope import entry_id, is_envelope
from tandemq.common.keys import Keys
from tandemq.common.task import Field, TaskState
from tandemq.distributor import Distributor
from tandemq.distributor.core import new_task_id
from tandemq.inspector import Inspector, TaskNotFound, TaskStateError

from .conftest import OWNER, Job, Seeder

pytestmark = pytest.mark.wire  # envelopes are only sent over the pipelining connection


async def _pending(redis: Redis, prefix: str, queue: str) -> list[bytes]:
    """The queue's pending list, next to run first."""
    entries: list[bytes] = await redis.lrange(Keys(prefix).queue(queue).pending, 0, -1)
    return entries[::-1]


async def test_pending_page_shows_envelopes_like_hash_tasks_in_order(
    inspector: Inspector, seed: Seeder, distributor: Distributor, broker: Broker, redis: Redis,
    prefix: str,
) -> None:  # fmt: skip
    rerun = await seed.retry("q")  # has a hash; back in pending (a bare id) below
    deadline = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    long = await distributor.send(Job(n=0, note="x" * 300), queue="q")
    own = await distributor.send(Job(n=1), queue="q", task_id="own-id", max_retry=7)
    short = await distributor.send(Job(n=2), queue="q", max_retry=2, deadline=deadline)
    await inspector.run_task("q", rerun)
    order = [long.id, own.id, short.id, rerun]
    entries = await _pending(redis, prefix, "q")
    assert [entry_id(e) for e in entries] == order
    assert [is_envelope(e) for e in entries] == [True, False, True, False]

    page = await inspector.list_tasks("q", "pending")
    assert (page.total, [t.id for t in page.tasks]) == (4, order)
    first, _, third, fourth = page.tasks
    assert (first.type, first.state, first.max_retry) == ("tests.job", "pending", long.max_retry)
    assert first.enqueued_at == long.enqueued_at and first.payload_truncated
    assert first.payload_preview == '{"n":0,"note":"' + "x" * 185  # 200 bytes, as peek.lua cuts
    assert (third.max_retry, third.deadline, third.retried) == (2, deadline, 0)
    assert third.payload_preview == '{"n":2,"note":""}' and not third.payload_truncated
    assert third.error is None and third.next_process_at is None and third.processor is None
    assert fourth.retried == 1 and fourth.error == "ValueError: try again"
    middle = await inspector.list_tasks("q", "pending", limit=2, offset=1)
    assert [t.id for t in middle.tasks] == order[1:3]

    for task_id in (long.id, short.id):  # the same tasks with a hash each, read by peek.lua
        assert await broker.find_envelope("q", task_id, pin=True)
    assert not any(is_envelope(e) for e in await _pending(redis, prefix, "q"))
    assert (await inspector.list_tasks("q", "pending")).tasks == page.tasks


async def test_oldest_pending_age_of_an_envelope_is_from_its_send(
    inspector: Inspector, broker: Broker, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    # what Distributor.send writes, sent ten minutes ago
    sent = NewTask(
        id=new_task_id(), queue="q", type=Job.tandemq_type, payload=b'{"n":0,"note":""}',
        max_retry=3, enqueued_ms=now_ms() - 600_000,
    )  # fmt: skip
    await broker.enqueue(sent)
    await distributor.send(Job(n=1), queue="q", task_id="own-id")
    oldest = (await _pending(redis, prefix, "q"))[0]
    assert is_envelope(oldest) and entry_id(oldest) == sent.id
    age = (await inspector.queue("q")).oldest_pending_age
    assert age is not None and 590 < age < 700
    (listed,) = [q for q in await inspector.queues() if q.queue == "q"]
    assert listed.oldest_pending_age is not None and listed.oldest_pending_age > 590


async def test_get_task_reads_an_envelope_without_pinning_it(
    inspector: Inspector, distributor: Distributor, broker: Broker, redis: Redis, prefix: str
) -> None:
    info = await distributor.send(
        Job(n=1, note="hi"), queue="q", max_retry=4, timeout=timedelta(seconds=30)
    )
    detail = await inspector.get_task("q", info.id)
    assert is_envelope((await _pending(redis, prefix, "q"))[0])  # only read
    assert (detail.state, detail.payload, detail.type) == ("pending", info.payload, "tests.job")
    assert (detail.max_retry, detail.retried, detail.attempts) == (4, 0, 0)
    assert (detail.enqueued_at, detail.timeout) == (info.enqueued_at, timedelta(seconds=30))
    assert detail.processor is None and detail.archived_at is None
    assert detail.unique_lock is None and not detail.archived_by_operator
    assert await broker.find_envelope("q", info.id, pin=True)
    assert await inspector.get_task("q", info.id) == detail  # the same, read from its hash


async def test_get_task_with_pin_writes_the_hash_in_the_same_place_of_the_queue(
    inspector: Inspector, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    before = await distributor.send(Job(n=0), queue="q")
    info = await distributor.send(Job(n=1, note="hi"), queue="q", max_retry=4)
    after = await distributor.send(Job(n=2), queue="q")
    unpinned = await inspector.get_task("q", info.id)
    pinned = await inspector.get_task("q", info.id, pin=True)
    assert pinned == unpinned
    entries = await _pending(redis, prefix, "q")
    assert entries[1] == info.id.encode()  # the bare id, where the envelope was
    assert [is_envelope(e) for e in entries] == [True, False, True]
    assert [entry_id(e) for e in entries] == [before.id, info.id, after.id]
    task_key = Keys(prefix).queue("q").task(info.id)
    assert await redis.hget(task_key, Field.TYPE) == b"tests.job"  # (no state field: pending)
    assert await inspector.get_task("q", info.id) == unpinned  # now one read of the hash


async def test_bulk_archive_of_pending_envelopes_keeps_every_task_whole(
    inspector: Inspector, distributor: Distributor, broker: Broker, redis: Redis, prefix: str
) -> None:
    sent = [
        await distributor.send(Job(n=0, note="x" * 300), queue="q"),  # hash pieces once written
        await distributor.send(Job(n=1), queue="q", task_id="own-id"),
        await distributor.send(Job(n=2), queue="q", max_retry=2, timeout=timedelta(seconds=9)),
        *await distributor.send_many([Job(n=i) for i in range(3, 6)], queue="q"),
    ]
    # send_many writes envelopes where it streams (not on a cluster: there, hash tasks)
    many = 3 if broker.transport.streams else 0
    assert sum(map(is_envelope, await _pending(redis, prefix, "q"))) == 2 + many
    before = {t.id: await inspector.get_task("q", t.id) for t in sent}

    assert (await inspector.archive_all("q", "pending", chunk=4)).done == 6
    qk = Keys(prefix).queue("q")
    assert await redis.llen(qk.pending) == 0
    assert set(await redis.zrange(qk.archived, 0, -1)) == {t.id.encode() for t in sent}
    moved = {"state", "archived_at", "archived_by_operator"}
    for task in sent:
        after = await inspector.get_task("q", task.id)
        assert after.state is TaskState.ARCHIVED and after.archived_by_operator
        assert after.archived_at is not None
        assert after.model_dump(exclude=moved) == before[task.id].model_dump(exclude=moved)

    await inspector.run_all("q", "archived")  # and each runs again as it was sent
    taken, _ = await broker.dequeue({"q": 10}, OWNER, 60_000)
    got = {t.id: (json.loads(t.payload), t.max_retry, t.timeout_ms) for t in taken["q"]}
    want = {t.id: (t.payload, t.max_retry, None) for t in sent}
    assert got == want | {sent[2].id: ({"n": 2, "note": ""}, 2, 9000)}


async def test_bulk_delete_of_pending_envelopes_leaves_no_key(
    inspector: Inspector, distributor: Distributor, broker: Broker, redis: Redis, prefix: str
) -> None:
    await distributor.send_many([Job(n=i) for i in range(5)], queue="q")
    await distributor.send(Job(n=5), queue="q", task_id="own-id")
    await distributor.send(Job(n=6), queue="q", unique_for=timedelta(hours=1))  # a hash, a lock
    await distributor.send(Job(n=7), queue="q")
    many = broker.transport.streams  # send_many's envelopes: not on a cluster (hash tasks)
    assert [is_envelope(e) for e in await _pending(redis, prefix, "q")] == [many] * 5 + [
        False, False, True,
    ]  # fmt: skip
    assert (await inspector.delete_all("q", "pending", chunk=3)).done == 8
    assert [k async for k in redis.scan_iter(match=f"{prefix}:{{q}}:*")] == []
    assert (await inspector.queue("q")).size == 0
    again = await distributor.send(Job(n=6), queue="q", unique_for=timedelta(hours=1))
    assert again.state is TaskState.PENDING  # its lock went with it


async def test_one_envelope_task_archived_deleted_canceled_or_refused(
    inspector: Inspector, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    ids = [(await distributor.send(Job(n=i), queue="q")).id for i in range(5)]
    refused, archived, deleted, canceled, untouched = ids
    assert all(map(is_envelope, await _pending(redis, prefix, "q")))

    with pytest.raises(TaskStateError, match="already pending"):
        await inspector.run_task("q", refused)
    assert await inspector.archive_task("q", archived) is TaskState.PENDING
    assert await inspector.delete_task("q", deleted) is TaskState.PENDING
    assert await inspector.cancel_task("q", canceled) == "canceled"

    entries = await _pending(redis, prefix, "q")
    assert [entry_id(e) for e in entries] == [refused, untouched]  # still in their order
    assert is_envelope(entries[1])  # the others were never pinned
    got = await inspector.get_task("q", archived)
    assert (got.state, got.payload, got.archived_by_operator) == ("archived", {"n": 1, "note": ""}, True)  # fmt: skip
    assert (await inspector.get_task("q", canceled)).state is TaskState.CANCELED
    assert (await inspector.get_task("q", refused)).state is TaskState.PENDING
    with pytest.raises(TaskNotFound):
        await inspector.get_task("q", deleted)
    assert not await redis.exists(Keys(prefix).queue("q").task(deleted))
    stats = await inspector.queue("q")
    assert (stats.pending, stats.archived, stats.canceled, stats.size) == (2, 1, 1, 4)


async def test_bulk_run_script_on_the_pending_list_keeps_envelope_tasks(
    inspector: Inspector, distributor: Distributor, broker: Broker, redis: Redis, prefix: str
) -> None:
    """No operator's action asks it (pending tasks refuse "run"), but the script must never
    drop a task it popped: each comes back, in order, as the hash task it is."""
    ids = [(await distributor.send(Job(n=i), queue="q")).id for i in range(3)]
    ids.append((await distributor.send(Job(n=3), queue="q", task_id="own-id")).id)
    assert await broker.bulk_action("q", TaskState.PENDING, "run", 10) == 4
    entries = await _pending(redis, prefix, "q")
    assert [e.decode() for e in entries] == ids  # bare ids now, in the same order
    for n, task_id in enumerate(ids):
        task = await inspector.get_task("q", task_id)
        assert (task.state, task.payload) == ("pending", {"n": n, "note": ""})
        assert task.next_process_at is not None  # when it became pending: the queue's age
