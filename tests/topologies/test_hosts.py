"""Processors on two hosts (network namespaces ``a`` and ``b``, each with its own address and
link) against one Redis on a third: the queue weights hold across hosts, and the tasks a host
held when it was killed are run by the other one."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from tandemq.common.keys import Keys
from tandemq.distributor import Distributor
from tests.topologies.hosts_app import Job
from tests.topologies.netns import Hosts, why_no_namespaces

APP = "tests.topologies.hosts_app:app"
WEIGHTS = {"critical": 6, "default": 3, "low": 1}

_why = why_no_namespaces()
pytestmark = pytest.mark.skipif(_why is not None, reason=_why or "")


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    with Hosts() as made:
        yield made


async def _until(probe: object, timeout: float, what: str, hosts: Hosts) -> None:
    deadline = time.monotonic() + timeout
    while not await probe():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout}s; logs:\n{hosts.log('a')[-2000:]}"
                                 f"\n{hosts.log('b')[-2000:]}")  # fmt: skip
        await asyncio.sleep(0.05)


async def test_weights_hold_across_two_hosts(hosts: Hosts) -> None:
    prefix = f"hosts-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(hosts.unix_url)
    queue_of: dict[str, str] = {}
    async with Distributor(redis_url=hosts.unix_url, prefix=prefix) as distributor:
        for queue in WEIGHTS:
            for info in await distributor.send_many([Job(n=i) for i in range(4000)], queue=queue):
                queue_of[info.id] = queue
    env = {"TANDEMQ_PREFIX": prefix, "TANDEMQ_QUEUES": "critical=6,default=3,low=1",
           "TANDEMQ_CONCURRENCY": "4"}  # fmt: skip
    hosts.start("a", APP, **env)
    hosts.start("b", APP, **env)
    done_key = f"{prefix}:host:done"

    async def enough() -> bool:  # both hosts at work (one may start a moment later)
        by_host = Counter(v.decode() for v in await redis.hvals(done_key))
        return sum(by_host.values()) >= 1000 and min(by_host.get(h, 0) for h in "ab") >= 50

    await _until(enough, 90, "1,000 tasks done, 50 on each host", hosts)
    done = {k.decode(): v.decode() for k, v in (await redis.hgetall(done_key)).items()}
    keys = Keys(prefix)
    for queue in WEIGHTS:  # every queue was still busy when the snapshot was taken
        assert int(await redis.llen(keys.queue(queue).pending)) > 0
    await redis.aclose()
    shares = {q: n / len(done) for q, n in Counter(queue_of[i] for i in done).items()}
    by_host = Counter(done.values())
    print(f"\nHOSTS weights: done={len(done)} shares={shares} by_host={dict(by_host)}")
    assert set(by_host) == {"a", "b"}  # both hosts took part
    # >= 1,000 draws: 4 standard deviations are 6.2 points at p=0.6 and 3.8 at p=0.1.
    assert abs(shares["critical"] - 0.6) < 0.062, shares
    assert abs(shares["default"] - 0.3) < 0.058, shares
    assert abs(shares["low"] - 0.1) < 0.038, shares


async def test_tasks_of_a_killed_host_run_on_the_other(hosts: Hosts) -> None:
    prefix = f"hosts-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(hosts.unix_url)
    async with Distributor(redis_url=hosts.unix_url, prefix=prefix) as distributor:
        ids = {i.id for i in await distributor.send_many([Job(n=i, sleep=1.0) for i in range(30)])}
    env = {"TANDEMQ_PREFIX": prefix, "TANDEMQ_CONCURRENCY": "10", "TANDEMQ_LEASE_SECONDS": "2"}
    victim = hosts.start("a", APP, **env)
    started_key, done_key = f"{prefix}:host:started", f"{prefix}:host:done"

    async def a_busy() -> bool:
        return int(await redis.hlen(started_key)) >= 10

    await _until(a_busy, 60, "host a started 10 tasks", hosts)
    victim.send_signal(signal.SIGKILL)  # mid-task: it holds leases on what it started
    victim.wait(10)
    held = {k.decode() for k in await redis.hkeys(started_key)} - {
        k.decode() for k in await redis.hkeys(done_key)
    }
    hosts.start("b", APP, **env)

    async def all_done() -> bool:
        return int(await redis.hlen(done_key)) >= len(ids)

    await _until(all_done, 90, "every task done", hosts)
    done = {k.decode(): v.decode() for k, v in (await redis.hgetall(done_key)).items()}
    started = {k.decode(): v.decode() for k, v in (await redis.hgetall(started_key)).items()}
    await redis.aclose()
    recovered = [i for i in held if started[i] == "a" and done[i] == "b"]
    print(f"\nHOSTS crash: held_by_a_at_kill={len(held)} finished_on_b={len(recovered)}")
    assert set(done) == ids  # nothing lost
    assert held and sorted(recovered) == sorted(held)  # a's unfinished tasks ran on b
