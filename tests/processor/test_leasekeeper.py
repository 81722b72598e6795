"""The lease keeper's thread (processor/leasekeeper.py) renews the leases of a processor whose
event loop is stuck. It must outlive a moment when no Redis answers: a cluster client raises
as it is built when none of its nodes does."""

from __future__ import annotations

import asyncio
import contextlib
import time

from redis import Redis as SyncRedis
from redis.asyncio import Redis

from tandemq.common.broker import Broker, NewTask
from tandemq.common.keys import Keys
from tandemq.common.settings import Settings
from tandemq.processor.leasekeeper import LeaseKeeper
from tandemq.processor.leases import Leases
from tandemq.processor.running import Running
from tests.support import free_port

OWNER = "stuck-processor"
LEASE_MS = 1500


async def test_a_failed_connect_is_retried_and_the_leases_still_renewed(
    broker: Broker, redis: Redis, redis_url: str, prefix: str
) -> None:
    task = NewTask(id="t1", queue="q", type="t.T", payload=b"{}", max_retry=1, enqueued_ms=1)
    await broker.enqueue(task)
    taken, _ = await broker.dequeue({"q": 1}, OWNER, LEASE_MS)
    leases = Leases()
    leases.hold(taken["q"])
    active = Keys(prefix).queue("q").active
    leased_until = await redis.zscore(active, "t1")
    assert leased_until is not None
    attempts: list[str] = []

    def connect() -> SyncRedis:
        attempts.append("connect")
        if len(attempts) == 1:  # a cluster none of whose nodes answers: raises as it is built
            dead = f"127.0.0.1:{free_port()}"
            return Settings.load(env=False, cluster_nodes=dead).redis_options().sync_client()
        return SyncRedis.from_url(redis_url)

    keeper = LeaseKeeper(
        connect=connect, keys=Keys(prefix), owner=OWNER, leases=leases, running=Running(),
        lease_ms=LEASE_MS, max_block=30.0, on_lost=lambda lost: None,
    )  # fmt: skip
    ticking = asyncio.create_task(keeper.tick())
    await asyncio.sleep(0)  # the thread starts
    renewed = _stuck_until_renewed(SyncRedis.from_url(redis_url), active, leased_until)
    ticking.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ticking
    assert len(attempts) >= 2, "the thread died with the failed connect"
    assert renewed > leased_until


def _stuck_until_renewed(client: SyncRedis, active: str, leased_until: float) -> float:
    """The fault: the event loop blocked (a blocking poll in async code) until the lease's
    score moves, at most 30 s; returns the last score read."""
    deadline = time.monotonic() + 30
    score = leased_until
    while score == leased_until and time.monotonic() < deadline:
        time.sleep(0.05)
        score = client.zscore(active, "t1") or leased_until
    client.close()
    return score
