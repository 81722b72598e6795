"""Inspector actions against real Redis: one task and whole states run, archived or deleted
(checked key by key), states that refuse an action, pause flags, deleting queues."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import cast

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from tandemq.common.broker import Broker
from tandemq.common.envelope import entry_id
from tandemq.common.keys import Keys
from tandemq.common.task import TaskState
from tandemq.distributor import Distributor
from tandemq.inspector import (
    Inspector,
    InvalidRequest,
    QueueNotEmpty,
    QueueNotFound,
    TaskNotFound,
    TaskStateError,
)

from .conftest import OWNER, Job, Seeder


async def test_run_moves_an_archived_task_to_pending(
    inspector: Inspector, seed: Seeder, redis: Redis, prefix: str
) -> None:
    task_id = await seed.archived("q")
    assert await inspector.run_task("q", task_id) is TaskState.ARCHIVED
    qk = Keys(prefix).queue("q")
    assert await redis.zcard(qk.archived) == 0
    assert await redis.lrange(qk.pending, 0, -1) == [task_id.encode()]
    detail = await inspector.get_task("q", task_id)
    assert detail.state is TaskState.PENDING
    assert detail.next_process_at is not None  # when it became pending: the queue's age


async def test_run_task_is_fetched_by_a_processor_again(
    inspector: Inspector, seed: Seeder, broker: Broker
) -> None:
    task_id = await seed.retry("q")
    await inspector.run_task("q", task_id)
    taken, _ = await broker.dequeue({"q": 5}, OWNER, 60_000)
    assert [t.id for t in taken["q"]] == [task_id]


async def test_archive_takes_a_pending_task_out_of_its_list(
    inspector: Inspector, seed: Seeder, redis: Redis, prefix: str
) -> None:
    first, second, third = await seed.pending("q", 3)
    assert await inspector.archive_task("q", second) is TaskState.PENDING
    qk = Keys(prefix).queue("q")
    left = await redis.lrange(qk.pending, 0, -1)  # envelopes or ids (sent without task_id=)
    assert [entry_id(e) for e in left] == [third, first]
    assert await redis.zrange(qk.archived, 0, -1) == [second.encode()]
    detail = await inspector.get_task("q", second)
    assert detail.state is TaskState.ARCHIVED and detail.archived_by_operator
    assert detail.attempts == 0


async def test_delete_removes_the_task_and_releases_its_unique_lock(
    inspector: Inspector, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    info = await distributor.send(
        Job(n=1), queue="q", unique_for=timedelta(hours=1), process_in=timedelta(hours=1)
    )
    assert await inspector.delete_task("q", info.id) is TaskState.SCHEDULED
    qk = Keys(prefix).queue("q")
    assert not await redis.exists(qk.task(info.id))
    assert await redis.zcard(qk.scheduled) == 0
    again = await distributor.send(Job(n=1), queue="q", unique_for=timedelta(hours=1))
    assert again.id != info.id  # the lock went with the task


async def test_active_task_refuses_every_action(inspector: Inspector, seed: Seeder) -> None:
    task_id = await seed.active("q")
    for act in (inspector.run_task, inspector.archive_task, inspector.delete_task):
        with pytest.raises(TaskStateError, match="running on a processor"):
            await act("q", task_id)
    assert (await inspector.get_task("q", task_id)).state is TaskState.ACTIVE


async def test_refusals_say_why(inspector: Inspector, seed: Seeder) -> None:
    (pending,) = await seed.pending("q")
    with pytest.raises(TaskStateError, match="already pending"):
        await inspector.run_task("q", pending)
    archived = await seed.archived("other")
    with pytest.raises(TaskStateError, match="already archived"):
        await inspector.archive_task("other", archived)
    with pytest.raises(TaskNotFound):
        await inspector.delete_task("q", "no-such-id")
    with pytest.raises(InvalidRequest, match="unknown action"):
        await inspector.task_action("q", pending, "explode")


async def test_bulk_actions_work_in_chunks_over_thousands_of_tasks(
    inspector: Inspector, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    n = 3000
    await distributor.send_many([Job(n=i) for i in range(n)], queue="q")
    seen: list[tuple[int, int]] = []
    result = await inspector.archive_all(
        "q", "pending", chunk=100, on_progress=lambda d, t: seen.append((d, t))
    )
    assert result.done == n
    assert seen[0] == (0, n) and seen[-1] == (n, n)
    steps = [b[0] - a[0] for a, b in itertools.pairwise(seen)]
    assert len(steps) == 30 and max(steps) == 100  # never more than a chunk per script call
    qk = Keys(prefix).queue("q")
    assert (await redis.llen(qk.pending), await redis.zcard(qk.archived)) == (0, n)

    result = await inspector.run_all("q", TaskState.ARCHIVED, chunk=7)
    assert result.done == n
    assert (await redis.llen(qk.pending), await redis.zcard(qk.archived)) == (0 + n, 0)
    page = await inspector.list_tasks("q", "pending", limit=1)
    assert page.tasks[0].state is TaskState.PENDING

    result = await inspector.delete_all("q", "pending", chunk=512)
    assert result.done == n
    leftover = [k async for k in redis.scan_iter(match=f"{prefix}:{{q}}:t:*", count=1000)]
    assert leftover == []
    assert (await inspector.queue("q")).size == 0


async def test_bulk_refuses_states_its_action_does_not_take(
    inspector: Inspector, seed: Seeder
) -> None:
    await seed.active("q")
    with pytest.raises(TaskStateError, match="belong to the processors"):
        await inspector.delete_all("q", "active")
    with pytest.raises(TaskStateError, match="takes scheduled, retry, archived"):
        await inspector.run_all("q", "pending")
    with pytest.raises(InvalidRequest):
        await inspector.archive_all("q", "pending", chunk=0)


async def test_pause_sets_and_unpause_clears_the_flag(inspector: Inspector, seed: Seeder) -> None:
    await seed.pending("q")
    await inspector.pause("q")
    await inspector.pause("q")  # idempotent
    assert (await inspector.queue("q")).paused
    await inspector.unpause("q")
    assert not (await inspector.queue("q")).paused
    with pytest.raises(QueueNotFound):
        await inspector.pause("missing")


async def test_delete_queue_refuses_a_queue_with_tasks(inspector: Inspector, seed: Seeder) -> None:
    await seed.pending("q", 2)
    with pytest.raises(QueueNotEmpty, match="holds 2 tasks"):
        await inspector.delete_queue("q")
    assert "q" in await inspector.queue_names()


async def test_delete_queue_with_force_leaves_no_key_behind(
    inspector: Inspector, seed: Seeder, redis: Redis, prefix: str
) -> None:
    await seed.active("q")
    await seed.retry("q")
    await seed.archived("q")
    await seed.completed("q")
    await seed.pending("q", 3, unique_for=None)
    await seed.pending("q", 1, unique_for=timedelta(hours=1))
    await inspector.pause("q")
    await seed.pending("kept")
    progress: list[tuple[int, int]] = []
    deleted = await inspector.delete_queue(
        "q", force=True, chunk=2, on_progress=lambda d, t: progress.append((d, t))
    )
    assert deleted == 8
    assert progress[-1] == (8, 8)
    assert [k async for k in redis.scan_iter(match=f"{prefix}:{{q}}:*")] == []
    assert await inspector.queue_names() == ["kept"]
    with pytest.raises(QueueNotFound):
        await inspector.queue("q")


async def _scans(cluster: RedisCluster) -> dict[str, int]:
    """SCAN commands each primary has run so far (INFO commandstats)."""
    counts = {}
    for node in cluster.get_primaries():
        stats = await cluster.info("commandstats", target_nodes=node)
        counts[node.name] = int(stats.get("cmdstat_scan", {}).get("calls", 0))
    return counts


async def test_delete_queue_on_a_cluster_sweeps_only_the_queues_shard(
    inspector: Inspector, seed: Seeder, redis: Redis, prefix: str, cluster_nodes: str | None
) -> None:
    """Every key of a queue is in its slot: the sweep for keys left under its tag scans the
    one primary holding that slot, not every shard's whole keyspace."""
    if not cluster_nodes:
        pytest.skip("shards only on a cluster: runs under TANDEMQ_TEST_CLUSTER=1")
    cluster = cast(RedisCluster, redis)
    await seed.pending("q")
    stray = f"{Keys(prefix).queue('q').base}:stray"  # in no state: only the sweep finds it
    await redis.set(stray, 1)
    before = await _scans(cluster)
    assert await inspector.delete_queue("q", force=True) == 1
    after = await _scans(cluster)
    assert await redis.exists(stray) == 0
    home = cluster.get_node_from_key(stray)
    assert home is not None
    assert {name for name in after if after[name] > before[name]} == {home.name}


async def test_delete_an_empty_queue(inspector: Inspector, seed: Seeder) -> None:
    (task_id,) = await seed.pending("q")
    await inspector.delete_task("q", task_id)
    assert await inspector.delete_queue("q") == 0
    assert await inspector.queue_names() == []


async def test_canceled_tasks_are_counted_listed_and_deleted(
    inspector: Inspector, distributor: Distributor, seed: Seeder
) -> None:
    ids = await seed.pending("q", 3)
    for task_id in ids[:2]:
        assert await distributor.cancel(task_id, "q") == "canceled"
    stats = await inspector.queue("q")
    assert (stats.pending, stats.canceled, stats.size) == (1, 2, 3)
    page = await inspector.list_tasks("q", "canceled")
    assert {t.id for t in page.tasks} == set(ids[:2])
    assert page.tasks[0].state is TaskState.CANCELED
    with pytest.raises(TaskStateError):
        await inspector.run_task("q", ids[0])
    assert await inspector.delete_task("q", ids[0]) is TaskState.CANCELED
    assert (await inspector.delete_all("q", "canceled")).done == 1
    assert (await inspector.queue("q")).canceled == 0
