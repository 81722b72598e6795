"""The blocking SyncDistributor on a Redis Cluster (three primaries, three replicas on
loopback): sends, scheduled sends, send_many, get_task, cancel and wait with queues on three
shards while an async Processor runs the tasks; sends from many threads at once; scripts
loaded again on a primary that lacks them (flushed, or a replica promoted by a failover); the
eviction check reads every primary."""

from __future__ import annotations

import asyncio
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from pydantic import BaseModel

from tandemq import BrokerUnavailable, ConfigError, OutcomeUnknown, SyncDistributor
from tandemq.common.envelope import entry_id
from tandemq.common.errors import NotReplicated
from tandemq.common.keys import Keys
from tandemq.common.scripts import SCRIPTS
from tandemq.common.settings import Settings
from tandemq.distributor import Distributor
from tandemq.processor import Processor, TaskContext
from tests.support import free_port
from tests.topologies.cluster import Cluster, cluster_settings
from tests.topologies.test_cluster import spread_queues

WAIT = timedelta(seconds=20)  # only a failure bound: generous for a loaded 2-core machine


class Tenfold(BaseModel):
    n: int
    sleep: float = 0.0


def _processor(s: Settings, started: asyncio.Event | None = None) -> Processor:
    processor = Processor(settings=s)

    @processor.handler(Tenfold)
    async def tenfold(task: Tenfold, ctx: TaskContext) -> int:
        if task.sleep:
            assert started is not None
            started.set()
            await asyncio.sleep(task.sleep)
        return task.n * 10

    return processor


async def test_sync_sends_run_with_queues_on_three_shards(steady_cluster: Cluster) -> None:
    queues = spread_queues(steady_cluster)
    s = cluster_settings(steady_cluster, queues={q: 1 for q in queues})
    with SyncDistributor(settings=s) as d:
        sent = [(q, d.send(Tenfold(n=i), queue=q)) for i, q in enumerate(queues)]
        sent += [(q, info) for q in queues for info in d.send_many([Tenfold(n=7)] * 20, queue=q)]
        for q, info in sent:  # each readable by id from its own shard before it runs
            got = d.get_task(info.id, queue=q)
            assert got is not None and got.state == "pending"
        registered = d.redis.smembers(Keys(s.prefix).queues)  # the global set, its own slot
        assert {q.encode() for q in queues} <= registered
        async with _processor(s):
            for q, info in sent:
                done = await asyncio.to_thread(d.wait, info.id, queue=q, timeout=WAIT)
                assert done.state == "completed"
                assert done.result == info.payload["n"] * 10


async def test_sync_scheduled_sends_are_marked_due_and_run(steady_cluster: Cluster) -> None:
    queues = spread_queues(steady_cluster)
    s = cluster_settings(steady_cluster, queues={q: 1 for q in queues})
    later = timedelta(milliseconds=300)
    with SyncDistributor(settings=s) as d:
        one = [(q, d.send(Tenfold(n=i), queue=q, process_in=later)) for i, q in enumerate(queues)]
        many = [
            (q, i)
            for q in queues
            for i in d.send_many([Tenfold(n=5)] * 3, queue=q, process_in=later)
        ]
        assert {info.state for _, info in one + many} == {"scheduled"}
        # the forwarder finds scheduled tasks through p:due (global key, its own slot)
        due = {m.decode() for m in d.redis.zrange(Keys(s.prefix).due, 0, -1)}
        assert due == set(queues)
        async with _processor(s):
            for q, info in one + many:
                done = await asyncio.to_thread(d.wait, info.id, queue=q, timeout=WAIT)
                assert done.result == info.payload["n"] * 10


async def test_sync_cancel_and_get_task_on_a_cluster(steady_cluster: Cluster) -> None:
    queues = spread_queues(steady_cluster)
    s = cluster_settings(steady_cluster, queues={queues[2]: 1})
    started = asyncio.Event()
    with SyncDistributor(settings=s) as d:
        waiting = d.send(Tenfold(n=1), queue=queues[0])
        assert d.cancel(waiting.id, queue=queues[0]) == "canceled"
        info = d.get_task(waiting.id, queue=queues[0])
        assert info is not None and info.state == "canceled"
        assert d.get_task("no-such-task", queue=queues[1]) is None
        async with _processor(s, started):
            running = d.send(Tenfold(n=2, sleep=60), queue=queues[2])
            await asyncio.wait_for(started.wait(), WAIT.total_seconds())
            assert d.cancel(running.id, queue=queues[2]) == "canceling"
            done = await asyncio.to_thread(d.wait, running.id, queue=queues[2], timeout=WAIT)
            assert done.state == "canceled"


async def test_sync_sends_from_many_threads_land_on_every_shard(steady_cluster: Cluster) -> None:
    queues = spread_queues(steady_cluster)
    s = cluster_settings(steady_cluster, queues={q: 1 for q in queues})
    per_thread, threads = 30, 8

    def sender(worker: int) -> list[tuple[str, str]]:
        out = []
        for i in range(per_thread):
            q = queues[(worker + i) % 3]
            out.append((q, d.send(Tenfold(n=i), queue=q).id))
        return out

    with SyncDistributor(settings=s) as d, ThreadPoolExecutor(threads) as pool:
        sent = [pair for got in pool.map(sender, range(threads)) for pair in got]
        assert len({task_id for _, task_id in sent}) == per_thread * threads
        pending = {q: d.redis.llen(Keys(s.prefix).queue(q).pending) for q in queues}
        assert pending == {q: sum(1 for sq, _ in sent if sq == q) for q in queues}
        async with _processor(s):
            for q, task_id in sent[:: per_thread - 1]:  # some of each thread's
                done = await asyncio.to_thread(d.wait, task_id, queue=q, timeout=WAIT)
                assert done.state == "completed"


def test_sync_send_loads_scripts_again_on_flushed_primaries(steady_cluster: Cluster) -> None:
    queues = spread_queues(steady_cluster)
    with SyncDistributor(settings=cluster_settings(steady_cluster)) as d:
        for primary in steady_cluster.primaries:
            with steady_cluster.client(primary) as r:
                r.script_flush()
        for q in queues:  # NOSCRIPT on each shard: loaded on every primary, sent again
            info = d.send(Tenfold(n=1), queue=q)
            assert d.get_task(info.id, queue=q) is not None


def test_sync_send_repeats_only_the_calls_that_met_noscript(steady_cluster: Cluster) -> None:
    """A scheduled send's task write runs on its queue's shard; its p:due mark, on another
    shard whose scripts were flushed, meets NOSCRIPT: only the mark is sent again."""
    s = cluster_settings(steady_cluster)
    due_node = steady_cluster.primary_of(Keys(s.prefix).due)
    queue, queue_node = next(
        (q, node) for q in spread_queues(steady_cluster)
        if (node := steady_cluster.primary_of(Keys(s.prefix).queue(q).pending)).port != due_node.port
    )  # fmt: skip
    with SyncDistributor(settings=s) as d:
        with steady_cluster.client(due_node) as r:
            r.script_flush()
        with steady_cluster.client(queue_node) as r:
            r.config_resetstat()
        info = d.send(Tenfold(n=1), queue=queue, task_id="mine", process_in=timedelta(hours=1))
        assert info.state == "scheduled"
        assert d.redis.zscore(Keys(s.prefix).due, queue) is not None
        with steady_cluster.client(queue_node) as r:
            assert r.info("commandstats")["cmdstat_evalsha"]["calls"] == 1  # written once


def test_sync_send_replicas_makes_a_send_wait_for_a_replica(steady_cluster: Cluster) -> None:
    """The WAIT rides in the write's own pipeline, so it counts the replicas of that write's
    connection (on a cluster no PUBLISH is replicated to cover it from another)."""
    s = cluster_settings(steady_cluster, send_replicas=1)
    pending = Keys(s.prefix).queue("default").pending
    replica = steady_cluster.replica_of(steady_cluster.primary_of(pending))
    with SyncDistributor(settings=s) as d, steady_cluster.client(replica) as r:
        r.execute_command("READONLY")
        info = d.send(Tenfold(n=1))
        assert [entry_id(e) for e in r.lrange(pending, 0, -1)] == [info.id]  # there already
        assert len(d.send_many([Tenfold(n=i) for i in range(50)])) == 50
        assert r.llen(pending) == 51
    too_many = cluster_settings(steady_cluster, send_replicas=2, send_replicas_timeout_seconds=0.1)
    with SyncDistributor(settings=too_many) as d:  # one replica each
        with pytest.raises(NotReplicated, match="1 of the 2 replicas"):
            d.send(Tenfold(n=2))
        with pytest.raises(NotReplicated, match="1 of the 2 replicas"):
            d.send_many([Tenfold(n=i) for i in range(20)])


def test_sync_send_replicas_waits_after_a_noscript_resend(steady_cluster: Cluster) -> None:
    """A send that met NOSCRIPT is written by the resend: its WAIT goes with the resend."""
    s = cluster_settings(steady_cluster, send_replicas=1)
    pending = Keys(s.prefix).queue("default").pending
    primary = steady_cluster.primary_of(pending)
    with SyncDistributor(settings=s) as d, steady_cluster.client(primary) as p:
        p.script_flush()
        p.config_resetstat()
        info = d.send(Tenfold(n=1))
        assert p.info("commandstats")["cmdstat_wait"]["calls"] == 2  # after each write
        with steady_cluster.client(steady_cluster.replica_of(primary)) as r:
            r.execute_command("READONLY")
            assert [entry_id(e) for e in r.lrange(pending, 0, -1)] == [info.id]


async def test_both_distributors_refuse_a_cluster_with_one_evicting_primary(
    steady_cluster: Cluster,
) -> None:
    last = steady_cluster.primaries[-1]  # a plain INFO asks slot 0's primary (redis-py's default)
    with steady_cluster.client(last) as r:
        r.config_set("maxmemory-policy", "allkeys-lru")
    try:
        with (
            pytest.raises(ConfigError, match="allkeys-lru"),
            SyncDistributor(settings=cluster_settings(steady_cluster)),
        ):
            pass
        with pytest.raises(ConfigError, match="allkeys-lru"):
            async with Distributor(settings=cluster_settings(steady_cluster)):
                pass
    finally:
        with steady_cluster.client(last) as r:
            r.config_set("maxmemory-policy", "noeviction")


def test_sync_distributor_follows_a_failover(cluster: Cluster) -> None:
    queue = spread_queues(cluster)[0]
    key = Keys("x").queue(queue).pending
    with SyncDistributor(settings=cluster_settings(cluster)) as d:
        d.send(Tenfold(n=1), queue=queue)
        replica = cluster.replica_of(cluster.primary_of(key))
        with cluster.client(replica) as r:
            assert r.script_exists(SCRIPTS["enqueue"].sha) == [False]  # not replicated
            r.execute_command("CLUSTER", "FAILOVER")
        cluster.wait_primary(replica)
        deadline = time.monotonic() + 20  # until the old primary, too, says it is a replica
        while cluster.primary_of(key).port != replica.port:
            assert time.monotonic() < deadline, "the old primary still serves the slot"
            time.sleep(0.05)
        # the slot moved (MOVED followed) to a node that never loaded the scripts (NOSCRIPT)
        info = d.send(Tenfold(n=2), queue=queue)
        got = d.get_task(info.id, queue=queue)
        assert got is not None and got.state == "pending"


def test_sync_send_to_a_stalled_shard_raises_outcome_unknown(cluster: Cluster) -> None:
    """A cluster pipeline returns a node's timeout in its calls' places instead of raising:
    the send must not be taken for written."""
    queue = spread_queues(cluster)[2]  # not slot 0's: a resent call asks it for its keys
    primary = cluster.primary_of(Keys("x").queue(queue).pending)
    stalled = [primary, cluster.replica_of(primary)]  # no replica left to take over
    s = cluster_settings(cluster, redis_timeout_seconds=0.3)
    with SyncDistributor(settings=s) as d:
        d.send(Tenfold(n=1), queue=queue)  # scripts loaded, queue registered
        for server in stalled:
            assert server.proc is not None
            server.proc.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(OutcomeUnknown, match="may or may not be stored"):
                d.send(Tenfold(n=2), queue=queue)
        finally:
            for server in stalled:
                assert server.proc is not None
                server.proc.send_signal(signal.SIGCONT)


def test_sync_calls_are_routed_without_asking_a_node_for_their_keys(
    steady_cluster: Cluster,
) -> None:
    """redis-py left alone asks slot 0's primary COMMAND GETKEYS for every EVALSHA it
    routes: a second round trip per call, payload included, to a node not the call's."""
    queues = spread_queues(steady_cluster)
    with SyncDistributor(settings=cluster_settings(steady_cluster)) as d:
        for primary in steady_cluster.primaries:
            with steady_cluster.client(primary) as r:
                r.config_resetstat()
        for q in queues:
            d.send(Tenfold(n=1), queue=q)
            d.send_many([Tenfold(n=2)] * 5, queue=q, process_in=timedelta(minutes=1))
        for primary in steady_cluster.primaries:
            with steady_cluster.client(primary) as r:
                stats = r.info("commandstats")
                assert "cmdstat_command|getkeys" not in stats
                assert stats["cmdstat_evalsha"]["calls"] >= 2  # each shard's calls, there


def test_sync_distributor_on_a_cluster_no_node_answers_is_broker_unavailable() -> None:
    """redis-py's blocking cluster client reads the slot map as it is made and reports no
    node answering as a RedisClusterException, which is no TandemqError."""
    s = Settings.load(env=False, cluster_nodes=f"127.0.0.1:{free_port()}")
    with pytest.raises(BrokerUnavailable, match="no node of the Redis Cluster answered"):
        SyncDistributor(settings=s)
