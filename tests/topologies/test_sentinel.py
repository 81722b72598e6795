"""Sentinel: one primary, one replica, three Sentinels on loopback. Both sides find the primary
through the Sentinels (pipelining connection and redis-py), and follow it through a
``SENTINEL FAILOVER`` and a ``kill -9`` of the primary; what the switch cost is printed."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tandemq import SyncDistributor
from tandemq.common.envelope import entry_id
from tandemq.common.errors import ConfigError, NotReplicated, TaskIdConflict
from tandemq.common.keys import Keys
from tandemq.common.settings import Settings
from tandemq.distributor import Distributor
from tandemq.processor import Processor
from tests.topologies.failover import Figures, run_failover
from tests.topologies.roundtrip import Ping, round_trip
from tests.topologies.sentinel import SentinelSet


@pytest.fixture(scope="module")
def steady() -> Iterator[SentinelSet]:
    """A set no test fails over."""
    sset = SentinelSet().start()
    try:
        yield sset
    finally:
        sset.stop()


MIN_REPLICAS = ("--min-replicas-to-write", "1", "--min-replicas-max-lag", "2")


def _own_set(*server_args: str, replicas: int = 1) -> Iterator[SentinelSet]:
    sset = SentinelSet(server_args=server_args, replicas=replicas).start()
    try:
        yield sset
    finally:
        sset.stop()


@pytest.fixture
def sentinel_set() -> Iterator[SentinelSet]:
    """A set of this test's own (a failover changes it for good)."""
    yield from _own_set()


@pytest.fixture
def strict_set() -> Iterator[SentinelSet]:
    """Primaries that refuse writes without a replica in sync (min-replicas-to-write 1)."""
    yield from _own_set(*MIN_REPLICAS)


@pytest.fixture
def two_replicas() -> Iterator[SentinelSet]:
    """A primary with two replicas: after a failover the new one still has a replica."""
    yield from _own_set(replicas=2)


async def _sentinel_failover(sset: SentinelSet, **settings: Any) -> tuple[int, Figures]:
    old = sset.primary_port()

    async def failover() -> float:
        started = time.monotonic()
        await asyncio.to_thread(sset.failover)
        await asyncio.to_thread(sset.wait_new_primary, old)
        return time.monotonic() - started

    return old, await run_failover({**sset.settings(), **settings}, failover, sset.primary_port)


@pytest.mark.parametrize("wire", ["on", "off"])
async def test_both_sides_work_through_sentinels(
    steady: SentinelSet, wire: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TANDEMQ_WIRE", wire)
    used = await round_trip(**steady.settings())
    fast = wire == "on"
    assert used == {"distributor_wire": fast, "processor_wire": fast, "wakeup_wire": fast}


async def test_sentinel_failover_is_followed(
    sentinel_set: SentinelSet, capsys: pytest.CaptureFixture[str]
) -> None:
    old, figures = await _sentinel_failover(sentinel_set)
    with capsys.disabled():
        print("\n" + figures.line("sentinel-failover"))
    assert figures.switch_s > 0
    assert figures.late == []  # everything sent once the new primary was known ran
    assert figures.wire_port == sentinel_set.primary_port() != old  # the fast path followed


@pytest.mark.faults
async def test_min_replicas_to_write_closes_the_failover_window(
    strict_set: SentinelSet, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demoted primary refuses writes (NOREPLICAS, a BrokerUnavailable: sent again)
    instead of taking writes it will drop: nothing is lost, sends wait instead."""
    old, figures = await _sentinel_failover(strict_set)
    with capsys.disabled():
        print("\n" + figures.line("sentinel-failover min-replicas-to-write=1"))
    assert figures.lost == []
    assert figures.wire_port == strict_set.primary_port() != old


@pytest.mark.faults
async def test_primary_killed_is_failed_over_and_followed(
    sentinel_set: SentinelSet, capsys: pytest.CaptureFixture[str]
) -> None:
    old = sentinel_set.primary_port()

    async def crash() -> float:
        started = time.monotonic()
        sentinel_set.server_on(old).stop(kill=True)
        await asyncio.to_thread(sentinel_set.wait_new_primary, old)
        return time.monotonic() - started

    figures = await run_failover(sentinel_set.settings(), crash, sentinel_set.primary_port)
    with capsys.disabled():
        print("\n" + figures.line("sentinel-kill-9"))
    assert figures.send_failures > 0 or figures.longest_send_gap_s > 0.5  # it was felt
    assert figures.late == []
    assert figures.wire_port == sentinel_set.primary_port() != old


async def test_send_replicas_confirms_each_send_or_says_so(steady: SentinelSet) -> None:
    prefix = f"wait-{uuid.uuid4().hex[:8]}"
    one = Settings.load(env=False, prefix=prefix, send_replicas=1, **steady.settings())
    async with Distributor(settings=one) as distributor:
        await distributor.send(Ping(n=1))  # the one replica confirms
        assert len(await distributor.send_many([Ping(n=i) for i in range(100)])) == 100
    two = one.model_copy(update={"send_replicas": 2, "send_replicas_timeout_seconds": 0.2})
    async with Distributor(settings=two) as distributor:
        with pytest.raises(NotReplicated) as caught:
            await distributor.send(Ping(n=2), task_id="asked-too-much")
    assert (caught.value.task_ids, caught.value.confirmed) == (["asked-too-much"], 1)
    async with Distributor(settings=one) as distributor:  # sent again: it is there, confirmed
        with pytest.raises(TaskIdConflict):
            await distributor.send(Ping(n=2), task_id="asked-too-much")


def test_sync_send_replicas_confirms_each_send_or_says_so(steady: SentinelSet) -> None:
    prefix = f"wait-{uuid.uuid4().hex[:8]}"
    pending = Keys(prefix).queue("default").pending
    primary = steady.primary_port()
    replica = redis.Redis.from_url(next(x for x in steady.servers if x.port != primary).url)
    one = Settings.load(env=False, prefix=prefix, send_replicas=1, **steady.settings())
    with SyncDistributor(settings=one) as distributor:
        info = distributor.send(Ping(n=1))  # the one replica confirms
        assert [entry_id(e) for e in replica.lrange(pending, 0, -1)] == [info.id]
        assert len(distributor.send_many([Ping(n=i) for i in range(100)])) == 100
        assert replica.llen(pending) == 101
    two = one.model_copy(update={"send_replicas": 2, "send_replicas_timeout_seconds": 0.2})
    with SyncDistributor(settings=two) as distributor:
        with pytest.raises(NotReplicated) as caught:
            distributor.send(Ping(n=2), task_id="asked-too-much")
        with pytest.raises(NotReplicated) as many:
            distributor.send_many([Ping(n=i) for i in range(30)])
    assert (caught.value.task_ids, caught.value.confirmed) == (["asked-too-much"], 1)
    assert len(many.value.task_ids) == 30
    with SyncDistributor(settings=one) as distributor, pytest.raises(TaskIdConflict):
        distributor.send(Ping(n=2), task_id="asked-too-much")  # there, and confirmed
    replica.close()


@pytest.mark.faults
@pytest.mark.parametrize("inject", ["sentinel-failover", "kill-9"])
async def test_send_replicas_loses_nothing_in_a_failover(
    two_replicas: SentinelSet, inject: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sset = two_replicas
    old = sset.primary_port()

    async def fail_over() -> float:
        started = time.monotonic()
        if inject == "kill-9":
            sset.server_on(old).stop(kill=True)
        else:
            await asyncio.to_thread(sset.failover)
        await asyncio.to_thread(sset.wait_new_primary, old)
        return time.monotonic() - started

    figures = await run_failover(
        {**sset.settings(), "send_replicas": 1}, fail_over, sset.primary_port
    )
    with capsys.disabled():
        print("\n" + figures.line(f"{inject} send_replicas=1 (2 replicas)"))
    assert figures.lost == []


async def test_an_unknown_master_name_fails_at_start(steady: SentinelSet) -> None:
    s = Settings.load(env=False, sentinels=steady.sentinels, sentinel_master="no-such-master")
    with pytest.raises(ConfigError, match="TANDEMQ_SENTINEL_MASTER='no-such-master'"):
        async with Distributor(settings=s):
            pass
    with pytest.raises(ConfigError, match="none of the 3 Sentinels"):
        await Processor(settings=s).start()
