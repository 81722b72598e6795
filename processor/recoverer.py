"""Takes back tasks whose lease expired: their processor was killed or stalled past its lease.
Every processor runs one; the script is atomic, so they never take the same task twice."""

from __future__ import annotations

from tandemq.common.broker import Broker
from tandemq.common.logging import get_logger

LEASE_EXPIRED = "LeaseExpired: the processor running this task died or stalled past its lease"


class Recoverer:
    def __init__(self, broker: Broker, queues: list[str], interval: float) -> None:
        self._broker = broker
        self._queues = queues
        self._interval = interval
        self._log = get_logger(component="recoverer")

    async def step(self) -> float:
        retried, archived = await self._broker.recover(self._queues, LEASE_EXPIRED)
        given_back = await self._broker.recover_takes(self._queues)
        if given_back:
            self._log.warning("task.take_recovered", count=given_back)
        if retried or archived:
            self._log.warning(
                "task.recovered",
                to_retry=len(retried),
                archived=len(archived),
                task_ids=retried + archived,
            )
        return self._interval
