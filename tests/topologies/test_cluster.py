"""Redis Cluster: three primaries and three replicas on loopback. Both sides work with queues
on every shard (pipelining connection per primary, and redis-py alone), the global keys and
channels work across shards, a CLUSTER FAILOVER mid-run is followed, and TANDEMQ_SEND_REPLICAS
makes a send wait for a
replica. Crashes (kill -9 of a primary, a SIGKILL storm) are in
test_cluster_faults.py, behind the faults marker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq import SyncDistributor
from tandemq.common.broker import Broker
from tandemq.common.cluster import slot_of
from tandemq.common.envelope import entry_id
from tandemq.common.errors import BrokerUnavailable, ConfigError, NotReplicated
from tandemq.common.keys import Keys
from tandemq.common.task import Field
from tandemq.distributor import Distributor
from tandemq.inspector import Inspector
from tandemq.processor import Processor, TaskContext
from tandemq.processor.orphans import Orphans
from tests.support import eventually, subprocess_env
from tests.topologies.cluster import Cluster, cluster_settings
from tests.topologies.failover import run_failover

ROOT = Path(__file__).resolve().parents[2]


def spread_queues(cluster: Cluster) -> list[str]:
    """Three queue names whose slots are on three different primaries."""
    names: dict[int, str] = {}
    for i in range(1000):
        name = f"q{i}"
        names.setdefault(slot_of(name) * 3 // 16384, name)
        if len(names) == 3:
            break
    queues = [names[k] for k in sorted(names)]
    shards = {cluster.primary_of(f"x:{{{q}}}:pending").port for q in queues}
    assert len(shards) == 3, "the queues are not on three shards"
    return queues


class Job(BaseModel):
    n: int
    fail_first: bool = False
    sleep: float = 0.0


@pytest.mark.parametrize("wire", ["on", "off"])
async def test_both_sides_work_with_queues_on_three_shards(
    steady_cluster: Cluster, wire: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TANDEMQ_WIRE", wire)
    queues = spread_queues(steady_cluster)
    s = cluster_settings(steady_cluster, queues={q: 1 for q in queues}, concurrency=20)
    per_queue, seen = 40, set()
    done = asyncio.Event()
    processor = Processor(settings=s)

    @processor.handler(Job)
    async def job(task: Job, ctx: TaskContext) -> None:
        seen.add((ctx.queue, task.n))
        if len(seen) == 3 * per_queue:
            done.set()

    async with Distributor(settings=s) as distributor, processor:
        for q in queues:
            for i in range(per_queue // 2):
                await distributor.send(Job(n=i), queue=q)
            await distributor.send_many(
                [Job(n=i) for i in range(per_queue // 2, per_queue)], queue=q
            )
        await asyncio.wait_for(done.wait(), 60)
        parts = processor._parts
        assert parts is not None
        fast = wire == "on"
        assert (distributor._broker.transport._cluster is not None) is fast
        assert (parts.broker.transport._cluster is not None) is fast
        assert (parts.wake_listener._transport is not None) is fast
        # the global queue registry, read back from its own slot
        registered = await distributor.redis.smembers(Keys(s.prefix).queues)
        assert {q.encode() for q in queues} <= registered
        # the operator's view across shards: queue counts and the processor's presence
        async with Inspector(settings=s) as inspector:

            async def processed() -> list[int]:  # the counts land once a second
                stats = {q.queue: q for q in await inspector.queues()}
                return [stats[q].processed_today for q in queues]

            await eventually(processed, lambda got: got == [per_queue] * 3, timeout=20)
            assert processor.id in {p.id for p in await inspector.processors()}


async def test_retry_schedule_wait_and_cancel_on_a_cluster(steady_cluster: Cluster) -> None:
    queues = spread_queues(steady_cluster)
    s = cluster_settings(steady_cluster, queues={q: 1 for q in queues})
    attempts: dict[int, int] = {}
    started = asyncio.Event()
    processor = Processor(settings=s, retry_delay=lambda *_: timedelta(milliseconds=50))

    @processor.handler(Job)
    async def job(task: Job, ctx: TaskContext) -> int:
        attempts[task.n] = attempts.get(task.n, 0) + 1
        if task.fail_first and attempts[task.n] == 1:
            raise RuntimeError("first attempt fails")
        if task.sleep:
            started.set()
            await asyncio.sleep(task.sleep)
        return task.n * 10

    async with Distributor(settings=s) as d, processor:
        flaky = await d.send(Job(n=1, fail_first=True), queue=queues[0])
        later = await d.send(Job(n=2), queue=queues[1], process_in=timedelta(milliseconds=300))
        assert later.state == "scheduled"
        assert (await d.wait(flaky.id, queue=queues[0], timeout=timedelta(seconds=20))).result == 10
        assert (await d.wait(later.id, queue=queues[1], timeout=timedelta(seconds=20))).result == 20
        assert attempts == {1: 2, 2: 1}
        slow = await d.send(Job(n=3, sleep=60), queue=queues[2])
        await asyncio.wait_for(started.wait(), 20)
        await d.cancel(slow.id, queue=queues[2])
        for _ in range(400):  # the running handler is stopped and the task recorded canceled
            info = await d.get_task(slow.id, queue=queues[2])
            if info is not None and info.state == "canceled":
                break
            await asyncio.sleep(0.05)
        assert info is not None and info.state == "canceled"


@pytest.mark.parametrize("wire", ["on", "off"])
async def test_send_replicas_makes_a_send_wait_for_a_replica(
    steady_cluster: Cluster, wire: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TANDEMQ_WIRE", wire)
    s = cluster_settings(steady_cluster, send_replicas=1)
    async with Distributor(settings=s) as d:
        info = await d.send(Job(n=1))
        pending = Keys(s.prefix).queue("default").pending  # a bare id or an envelope
        replica = steady_cluster.replica_of(steady_cluster.primary_of(pending))
        with steady_cluster.client(replica) as r:
            r.execute_command("READONLY")
            ids = [
                entry_id(e if isinstance(e, bytes) else e.encode())
                for e in r.lrange(pending, 0, -1)
            ]
            assert info.id in ids  # on the replica as soon as send() returned
    too_many = cluster_settings(
        steady_cluster, send_replicas=2, send_replicas_timeout_seconds=0.1
    )  # one each
    async with Distributor(settings=too_many) as d:
        with pytest.raises(NotReplicated, match="1 of the 2 replicas"):
            await d.send(Job(n=2))


async def test_cluster_failover_is_followed(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    primary = cluster.primary_of("x:{default}:pending")
    replica = cluster.replica_of(primary)

    async def failover() -> float:
        started = time.monotonic()
        with cluster.client(replica) as r:
            r.execute_command("CLUSTER", "FAILOVER")
        await asyncio.to_thread(cluster.wait_primary, replica)
        return time.monotonic() - started

    figures = await run_failover(cluster.settings(), failover, lambda: _port_of_default(cluster))
    with capsys.disabled():
        print("\n" + figures.line("cluster-failover"))
    assert cluster.primary_of("x:{default}:pending").port == replica.port
    assert figures.late == []  # everything sent once the new primary served the slot ran
    assert figures.lost == []  # a manual failover waits for the replica to catch up
    assert figures.wire_port == replica.port  # the pipelining connection moved over


def _port_of_default(cluster: Cluster) -> int:
    return cluster.primary_of("x:{default}:pending").port


def test_blocking_client_runs_scripts_on_every_shard(steady_cluster: Cluster) -> None:
    """The processor's lease keeper renews leases with a blocking client of its own."""
    client = cluster_settings(steady_cluster).redis_options().sync_client(read_timeout=2)
    try:
        sha = client.script_load("return redis.call('incr', KEYS[1])")
        keys = [f"sync-{uuid.uuid4().hex[:6]}:{{{q}}}:n" for q in spread_queues(steady_cluster)]
        assert [client.evalsha(sha, 1, key) for key in keys] == [1, 1, 1]
    finally:
        client.close()


async def test_a_send_to_a_cluster_none_of_whose_nodes_answers_is_broker_unavailable(
    cluster: Cluster,
) -> None:
    """redis-py reports no node answering as a RedisClusterException raised from the
    connection error, not a ConnectionError: a send met it raw once the cluster was gone."""
    async with Distributor(
        settings=cluster_settings(cluster, redis_timeout_seconds=2)
    ) as distributor:
        await distributor.send(Job(n=1), queue="a")
        for server in cluster.servers:
            server.stop(kill=True)
        with pytest.raises(BrokerUnavailable, match="Redis unreachable"):
            await distributor.send(Job(n=2), queue="a")


@pytest.mark.parametrize("reads_when_down", ["no", "yes"])
async def test_a_send_to_a_cluster_that_is_down_is_broker_unavailable(
    cluster: Cluster, reads_when_down: str
) -> None:
    """With Redis' default ``cluster-require-full-coverage yes``, a shard with no node left
    makes every node refuse writes: CLUSTERDOWN, or with ``cluster-allow-reads-when-down`` a
    script's first write. Nothing is written; both Distributors said RedisRefused or
    ScriptError (the async one once redis-py's retries ran out)."""
    live_queue, _, dead_queue = spread_queues(cluster)
    s = cluster_settings(cluster, redis_timeout_seconds=10)  # past redis-py's own retries
    live_pending = Keys(s.prefix).queue(live_queue).pending
    live = cluster.primary_of(live_pending)
    async with Distributor(settings=s) as distributor:
        with SyncDistributor(settings=s) as sync:
            await distributor.send(Job(n=1), queue=live_queue)  # its queue is registered
            sync.send(Job(n=1), queue=live_queue)
            for server in cluster.servers:
                with cluster.client(server) as r:
                    r.config_set("cluster-require-full-coverage", "yes")  # Redis' default
                    r.config_set("cluster-allow-reads-when-down", reads_when_down)
            dead = cluster.primary_of(Keys(s.prefix).queue(dead_queue).pending)
            cluster.replica_of(dead).stop(kill=True)
            dead.stop(kill=True)

            def down() -> bool:
                with cluster.client(live) as r:
                    return bool(r.cluster("info")["cluster_state"] == "fail")

            await eventually(lambda: asyncio.to_thread(down), bool, timeout=30)
            with pytest.raises(BrokerUnavailable, match=r"Cluster (refused|is down)"):
                await distributor.send(Job(n=2), queue=live_queue)
            with pytest.raises(BrokerUnavailable, match=r"Cluster (refused|is down)"):
                sync.send(Job(n=2), queue=live_queue)
    with cluster.client(live) as r:
        r.config_set("cluster-allow-reads-when-down", "yes")  # to count
        assert r.llen(live_pending) == 2  # the two sends before; nothing of the refused ones


async def test_redis_url_naming_one_cluster_node_is_refused_with_the_fix(
    steady_cluster: Cluster,
) -> None:
    """A plain client on one node of a cluster works only for the keys of that node's slots
    (a send to another queue met "MOVED ..."). Every side refuses it at start instead, naming
    TANDEMQ_CLUSTER_NODES: both Distributors, the Inspector, the CLI and the daemon."""
    url = steady_cluster.primaries[0].url
    with pytest.raises(ConfigError, match="TANDEMQ_CLUSTER_NODES"):
        async with Distributor(redis_url=url, prefix="node"):
            pass
    with (
        pytest.raises(ConfigError, match="TANDEMQ_CLUSTER_NODES"),
        SyncDistributor(redis_url=url, prefix="node"),
    ):
        pass
    with pytest.raises(ConfigError, match="TANDEMQ_CLUSTER_NODES"):
        async with Inspector(redis_url=url, prefix="node"):
            pass
    for command in (["queues"], ["tests.apps:ledger"]):  # the CLI, the daemon
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "tandemq", *command],
            cwd=ROOT,
            env=subprocess_env(REDIS_URL=url),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert "TANDEMQ_CLUSTER_NODES" in done.stderr


async def test_a_redirection_met_by_a_plain_client_names_the_fix(steady_cluster: Cluster) -> None:
    """Past the start-up check: a MOVED reply to a plain client, to a command or a script
    call, is a ConfigError that says what to set, not "Redis refused the command: MOVED"."""
    node = steady_cluster.primaries[0]
    keys = Keys("node")  # node:queues hashes to the third primary's slots
    queue = next(
        q for q in (f"q{i}" for i in range(100))
        if steady_cluster.primary_of(keys.queue(q).pending).port != node.port
    )  # fmt: skip
    client = Redis.from_url(node.url)
    broker = Broker(client, keys)
    try:
        await broker.load_scripts()
        with pytest.raises(ConfigError, match=r"TANDEMQ_CLUSTER_NODES.*redirected"):
            await broker.register_queues([queue])
        with pytest.raises(ConfigError, match=r"TANDEMQ_CLUSTER_NODES.*redirected"):
            await broker.cancel(queue, "some-task")  # a script call
    finally:
        await broker.aclose()
        await client.aclose()


async def test_orphans_are_found_on_every_shard(steady_cluster: Cluster) -> None:
    """The orphans pass SCANs one primary after another: a cluster client's SCAN answers a
    cursor per node, which the pass took for one cursor (a TypeError every step, so orphans
    on a cluster were never returned)."""
    s = cluster_settings(steady_cluster)
    queues = spread_queues(steady_cluster)
    async with Distributor(settings=s) as distributor:
        redis, keys = distributor.redis, Keys(s.prefix)
        for q in queues:  # a caller's id: written as a task hash
            await distributor.send(Job(n=1), queue=q, task_id=f"orphan-{q}")
            qk = keys.queue(q)
            await redis.lrem(qk.pending, 0, f"orphan-{q}")  # as a failover missing the lease
            await redis.hset(qk.task(f"orphan-{q}"), mapping={Field.STATE: "active"})
        orphans = Orphans(distributor._broker, queues)

        async def returned() -> list[str]:
            await orphans.step()
            return [q for q in queues if await redis.lpos(keys.queue(q).pending, f"orphan-{q}")
                    is not None]  # fmt: skip

        await eventually(returned, lambda back: back == queues, timeout=30, every=0)
