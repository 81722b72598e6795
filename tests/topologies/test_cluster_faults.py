"""Crashes on a Redis Cluster (faults marker: ``pytest -m faults tests/topologies``):

- a ``kill -9`` of the primary serving the queue mid-run, with default asynchronous
  replication and with TANDEMQ_SEND_REPLICAS=1; the killed node is started again once its
  replica took over (it rejoins as the new primary's replica), as an operator would;
- the SIGKILL storm with queues on three shards: processor daemons killed at random while
  they run tasks; nothing is lost. The handlers' ledger lives on a plain Redis of its own.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tandemq.common.keys import Keys
from tandemq.common.settings import Settings
from tandemq.common.task import Field
from tandemq.distributor import Distributor
from tests.apps import Work
from tests.faults.harness import Scenario
from tests.support import RedisServer, eventually, subprocess_env
from tests.topologies.cluster import Cluster
from tests.topologies.failover import run_failover
from tests.topologies.test_cluster import spread_queues

pytestmark = pytest.mark.faults
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("send_replicas", [0, 1])
@pytest.mark.parametrize("fault", ["kill-9", "takeover"])
async def test_primary_lost_mid_run_is_followed(
    cluster: Cluster, fault: str, send_replicas: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """``kill-9``: the primary dies; its replica is elected after the node timeout.
    ``takeover``: the replica takes the slots at once (CLUSTER FAILOVER TAKEOVER, what a
    partition that cuts the primary from the others amounts to) while the old primary still
    takes writes until it hears of the new epoch: those writes are the ones asynchronous
    replication loses."""
    primary = cluster.primary_of("x:{default}:pending")
    replica = cluster.replica_of(primary)

    async def lose_primary() -> float:
        started = time.monotonic()
        if fault == "kill-9":
            primary.stop(kill=True, keep_data=True)
        else:
            with cluster.client(replica) as r:
                r.execute_command("CLUSTER", "FAILOVER", "TAKEOVER")
        await asyncio.to_thread(cluster.wait_primary, replica)
        switched = time.monotonic() - started
        if fault == "kill-9":
            await asyncio.to_thread(primary.start)  # back as the new primary's replica
        return switched

    settings = {**cluster.settings(), "send_replicas": send_replicas}
    # The settle waits for the replica, not for what a node says: the old primary may still
    # name itself for a moment after a TAKEOVER (the test once stopped there, at its port).
    figures = await run_failover(
        settings, lose_primary, lambda: replica.port, before=300, after_switch=200
    )
    with capsys.disabled():
        print("\n" + figures.line(f"cluster-{fault} send_replicas={send_replicas}"))
    assert figures.late == []
    if send_replicas:
        assert figures.lost == []  # every acknowledged send was on the replica
    assert figures.wire_port == replica.port  # the pipelining connection moved over


async def test_sigkill_storm_on_three_shards_loses_nothing(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = RedisServer().start()
    run = Scenario(ledger)
    queues = spread_queues(cluster)
    s = Settings.load(env=False, prefix=run.prefix, **cluster.settings())
    env = {
        "TANDEMQ_CLUSTER_NODES": cluster.nodes,
        "TANDEMQ_QUEUES": ",".join(queues),
        "TANDEMQ_LEASE_SECONDS": "1",
        "TANDEMQ_CONCURRENCY": "50",
    }
    n, kills = 3000, 6
    try:
        async with Distributor(settings=s) as distributor:
            ids: set[str] = set()
            for i, q in enumerate(queues):
                infos = await distributor.send_many(
                    [Work(n=j, sleep=0.4) for j in range(i, n, 3)], queue=q
                )
                ids |= {info.id for info in infos}
            procs = [run.start_processor(**env) for _ in range(3)]
            rng = random.Random(20261130)
            held_at_kills = 0
            for _ in range(kills):
                await asyncio.sleep(0.5)
                victim = rng.randrange(len(procs))
                procs[victim].send_signal(signal.SIGKILL)
                await asyncio.to_thread(procs[victim].wait, 10)
                held_at_kills += await _leased_by(distributor, queues, procs[victim].pid)
                procs[victim] = run.start_processor(**env)
                await run.ready(procs[victim])
            client = Redis.from_url(ledger.url)
            await eventually(
                lambda: client.hlen(f"{run.prefix}:ledger"), lambda v: v >= n, timeout=300
            )
            verdict = await run.verdict(client, ids)
            await client.aclose()
        with capsys.disabled():
            print(
                "\n"
                + verdict.line("cluster-sigkill-storm", f"{kills} SIGKILLs, {held_at_kills} held")
            )
        assert verdict.lost == []
        assert verdict.duplicated <= held_at_kills
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        assert [await asyncio.to_thread(p.wait, 30) for p in procs] == [0, 0, 0], run.logs()
    finally:
        run.stop_all()
        ledger.stop()


async def _leased_by(distributor: Distributor, queues: list[str], pid: int) -> int:
    """Tasks in the queues' active sets whose owner (host:pid:random) is that process."""
    keys, held = Keys(distributor.settings.prefix), 0
    for q in queues:
        qk = keys.queue(q)
        for task_id in await distributor.redis.zrange(qk.active, 0, -1):
            owner = await distributor.redis.hget(qk.task(task_id.decode()), Field.OWNER)
            held += owner is not None and owner.decode().split(":")[1] == str(pid)
    return held


# (List intake tests use untagged lists: on a cluster the list must carry its queue's hash
# tag, docs/INTAKE.md, so they are not run here; test_script_keys covers its scripts.)
# Tests that talk to one Redis on purpose: a TCP proxy in front of the session's server,
# processor daemons given REDIS_URL only, KEYS (one node's keys on a cluster client), from_env.
_SINGLE_REDIS_ONLY = (
    "cut or test_crash or test_from_env or unique_for_refuses or over_the_limit"
    " or test_intake_acl or test_cli"
)
BEHAVIOUR = (
    "tests/distributor/test_send.py",
    "tests/distributor/test_sync.py",
    "tests/processor/test_retries.py",
    "tests/processor/test_scheduling.py",
    "tests/processor/test_schedule.py",
    "tests/processor/test_weighted.py",
    "tests/processor/test_results.py",
    "tests/processor/test_cancel.py",
    "tests/processor/test_unique.py",
    "tests/processor/test_timeouts.py",
    "tests/processor/test_cron.py",
    "tests/processor/test_limits.py",
    "tests/common/test_broker_scripts.py",
    "tests/common/test_result_scripts.py",
)


def test_behaviour_suite_runs_green_on_a_cluster() -> None:
    """The behaviour tests, their fixtures on a 3+3 cluster (TANDEMQ_TEST_CLUSTER=1, see
    tests/conftest.py): queues of a test spread over the shards their names hash to."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-k",
         f"not ({_SINGLE_REDIS_ONLY})", *BEHAVIOUR],
        cwd=ROOT, env=subprocess_env(TANDEMQ_TEST_CLUSTER="1"), capture_output=True,
        timeout=1200, check=False,
    )  # fmt: skip
    tail = run.stdout.decode()[-3000:]
    print("\nBEHAVIOUR on cluster:", tail.strip().splitlines()[-1])
    assert run.returncode == 0, tail
