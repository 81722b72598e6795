"""Takes back tasks whose lease expired: their processor was killed or stalled past its lease.
Every processor runs one; the script is atomic, so they never take the same task twice.

It visits the queues that held leases lately (``p:leased``, marked by the fetcher and by every
heartbeat) and a few others in turn, not every queue every time: the cost of an idle step is
flat with the number of queues."""

from __future__ import annotations

from tandemq.common.broker import Broker
from tandemq.common.clock import now_ms
from tandemq.common.logging import get_logger

from .rotation import Rotation

LEASE_EXPIRED = "LeaseExpired: the processor running this task died or stalled past its lease"
# A queue marked within this long may hold a lease: longer than any lease can live unrenewed
# (TANDEMQ_LEASE_SECONDS is at most an hour), since renewals mark too.
HORIZON_MS = 2 * 3600 * 1000
ROTATION_PER_STEP = 10


class Recoverer:
    def __init__(self, broker: Broker, queues: list[str], interval: float) -> None:
        self._broker = broker
        self._queues = set(queues)
        self._rotation = Rotation(queues, ROTATION_PER_STEP)
        self._interval = interval
        self._log = get_logger(__name__, component="recoverer")

    async def step(self) -> float:
        now = now_ms()
        busy = [q for q in await self._broker.leased_queues(now - HORIZON_MS) if q in self._queues]
        visit = sorted(set(busy) | set(self._rotation.next()))
        retried, archived = await self._broker.recover(visit, LEASE_EXPIRED)
        given_back = await self._broker.recover_takes(visit)
        if given_back:
            self._log.warning("task.take_recovered", count=given_back)
        if retried or archived:
            self._log.warning(
                "task.recovered",
                to_retry=len(retried),
                archived=len(archived),
                task_ids=retried + archived,
            )
        await self._broker.forget_leased(now - 2 * HORIZON_MS)
        return self._interval
