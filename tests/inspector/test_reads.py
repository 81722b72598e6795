"""Inspector reads against real Redis: sizes per state, pages in the order users want, one
task in full, histories from the counters, and errors for what does not exist."""

from __future__ import annotations

from datetime import timedelta

import pytest
from redis.asyncio import Redis

from tandemq.common.clock import now_ms
from tandemq.common.errors import BrokerUnavailable
from tandemq.common.history import add_counts
from tandemq.common.keys import Keys
from tandemq.common.settings import Settings
from tandemq.common.task import TaskState
from tandemq.distributor import Distributor
from tandemq.inspector import Inspector, QueueNotFound, TaskNotFound, queues_payload
from tests.support import free_port

from .conftest import Job, Seeder


async def _one_of_each(seed: Seeder, queue: str) -> dict[str, str]:
    ids = {
        "active": await seed.active(queue),
        "retry": await seed.retry(queue),
        "archived": await seed.archived(queue),
        "completed": await seed.completed(queue),
        "scheduled": await seed.scheduled(queue),
    }
    ids["pending"] = (await seed.pending(queue))[0]
    return ids


async def test_queues_report_each_state_size(inspector: Inspector, seed: Seeder) -> None:
    await _one_of_each(seed, "mail")
    await seed.pending("mail", 2)
    await seed.pending("other")
    stats = {s.queue: s for s in await inspector.queues()}
    assert set(stats) == {"mail", "other"}
    mail = stats["mail"]
    assert (mail.pending, mail.active, mail.scheduled, mail.retry, mail.archived) == (3, 1, 1, 1, 1)
    assert mail.completed == 1
    assert mail.size == 8
    assert not mail.paused
    assert mail.oldest_pending_age is not None and 0 <= mail.oldest_pending_age < 60
    assert stats["other"].size == 1


async def test_oldest_pending_age_is_that_of_the_next_task_to_run(
    inspector: Inspector, seed: Seeder, redis: Redis, prefix: str
) -> None:
    # a caller's id: the task has a hash (an envelope's: test_envelopes.py)
    (first,) = await seed.pending("q", task_id="first")
    await seed.pending("q")
    # the next task to run was sent ten minutes ago
    await redis.hset(Keys(prefix).queue("q").task(first), "e", now_ms() - 600_000)
    age = (await inspector.queue("q")).oldest_pending_age
    assert age is not None and 590 < age < 700
    await seed.pending("empty")
    await inspector.delete_all("empty", "pending")
    assert (await inspector.queue("empty")).oldest_pending_age is None


async def test_queues_json_shape_has_the_documented_fields(
    inspector: Inspector, seed: Seeder
) -> None:
    await seed.pending("q")
    (obj,) = queues_payload(await inspector.queues())
    for field in ("queue", "pending", "active", "scheduled", "retry", "archived", "completed"):
        assert field in obj
    assert obj["paused"] is False and obj["pending"] == 1


async def test_pending_page_lists_the_next_task_to_run_first(
    inspector: Inspector, seed: Seeder
) -> None:
    ids = await seed.pending("q", 5)
    page = await inspector.list_tasks("q", "pending", limit=2)
    assert page.total == 5
    assert [t.id for t in page.tasks] == ids[:2]
    rest = await inspector.list_tasks("q", TaskState.PENDING, limit=10, offset=2)
    assert [t.id for t in rest.tasks] == ids[2:]
    beyond = await inspector.list_tasks("q", "pending", limit=10, offset=5)
    assert beyond.tasks == [] and beyond.total == 5


async def test_archived_page_lists_the_newest_first(
    inspector: Inspector, seed: Seeder, redis: Redis, prefix: str
) -> None:
    ids = [await seed.archived("q") for _ in range(3)]
    for age, task_id in enumerate(reversed(ids)):  # archived one second apart (not in one ms)
        await redis.zadd(Keys(prefix).queue("q").archived, {task_id: now_ms() - 1000 * age})
    page = await inspector.list_tasks("q", "archived")
    assert [t.id for t in page.tasks] == ids[::-1]
    assert page.tasks[0].error == "ValueError: gave up"
    assert page.tasks[0].state is TaskState.ARCHIVED
    assert page.order == "newest first"


async def test_a_page_carries_a_preview_not_the_whole_payload(
    inspector: Inspector, distributor: Distributor
) -> None:
    for note in ("x" * 300, "y" * 5000):  # stored in pieces, and whole
        await distributor.send(Job(n=1, note=note), queue="q")
    page = await inspector.list_tasks("q", "pending")
    for task in page.tasks:
        assert task.payload_truncated
        assert len(task.payload_preview) <= 200
        assert task.payload_preview.startswith('{"n":1,"note":"')
    small = await distributor.send(Job(n=2), queue="small")
    (listed,) = (await inspector.list_tasks("small", "pending")).tasks
    assert listed.id == small.id and not listed.payload_truncated
    assert listed.payload_preview == '{"n":2,"note":""}'


async def test_active_page_names_the_processor(inspector: Inspector, seed: Seeder) -> None:
    task_id = await seed.active("q")
    (task,) = (await inspector.list_tasks("q", "active")).tasks
    assert (task.id, task.processor, task.type) == (task_id, "test-processor", "tests.job")


async def test_get_task_shows_payload_error_attempts_and_times(
    inspector: Inspector, seed: Seeder
) -> None:
    ids = await _one_of_each(seed, "q")
    archived = await inspector.get_task("q", ids["archived"])
    assert archived.state is TaskState.ARCHIVED
    assert archived.payload == {"n": 0, "note": ""}
    assert archived.last_error == "Traceback\nValueError: gave up"
    assert archived.attempts == 1 and archived.retried == 0
    assert archived.archived_at is not None and archived.failed_at is not None
    assert archived.enqueued_at is not None and not archived.archived_by_operator
    active = await inspector.get_task("q", ids["active"])
    assert active.processor == "test-processor" and active.lease_expires_at is not None
    assert active.attempts == 1
    retry = await inspector.get_task("q", ids["retry"])
    assert retry.retried == 1 and retry.attempts == 1 and retry.next_process_at is not None
    completed = await inspector.get_task("q", ids["completed"])
    assert completed.completed_at is not None and completed.expires_at is not None
    assert completed.expires_at - completed.completed_at == timedelta(hours=1)


async def test_unknown_task_and_queue_are_not_found(inspector: Inspector, seed: Seeder) -> None:
    await seed.pending("q")
    with pytest.raises(TaskNotFound, match="no task 'nope' in queue 'q'"):
        await inspector.get_task("q", "nope")
    with pytest.raises(QueueNotFound, match="tandemq queues"):
        await inspector.list_tasks("missing", "pending")
    with pytest.raises(QueueNotFound):
        await inspector.queue("{bad}")
    with pytest.raises(ValueError, match="pending"):
        await inspector.list_tasks("q", "sleeping")


async def test_history_adds_up_the_counters(
    inspector: Inspector, seed: Seeder, redis: Redis, prefix: str
) -> None:
    await seed.pending("a")
    await seed.pending("b")
    now = now_ms()
    keys = Keys(prefix)
    await add_counts(redis, keys, {"a": (5, 2), "b": (1, 0)}, now)
    await add_counts(redis, keys, {"a": (3, 0)}, now - 120_000)  # two minutes ago
    await add_counts(redis, keys, {"a": (7, 1)}, now - 86_400_000)  # yesterday
    a = await inspector.history("a")
    assert len(a.per_minute) == 60 and len(a.per_day) == 30
    assert (a.per_minute[-1].processed, a.per_minute[-1].failed) == (5, 2)
    assert a.per_minute[-3].processed == 3
    assert a.per_minute[0].at < a.per_minute[-1].at
    assert (a.per_day[-1].processed, a.per_day[-1].failed) == (8, 2)
    assert (a.per_day[-2].processed, a.per_day[-2].failed) == (7, 1)
    both = await inspector.history()
    assert both.queue is None and both.per_minute[-1].processed == 6
    assert (await inspector.queue("a")).processed_today == 8
    ttl = await redis.ttl(keys.queue("a").count("processed", "m", now // 60_000))
    assert 3600 < ttl <= 7200


async def test_a_cluster_none_of_whose_nodes_answers_is_broker_unavailable() -> None:
    """redis-py's cluster client says so with a RedisClusterException, not a ConnectionError:
    on entry (the scripts' load) and on a read alike, the operator gets BrokerUnavailable."""
    nodes = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    settings = Settings.load(env=False, cluster_nodes=nodes, redis_retries=0)
    inspector = Inspector(settings=settings)
    try:
        with pytest.raises(BrokerUnavailable, match="Redis unreachable"):
            await inspector.queue_names()
        with pytest.raises(BrokerUnavailable, match="Redis unreachable"):
            await inspector.__aenter__()
    finally:
        await inspector.aclose()
