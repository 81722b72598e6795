"""Renews the leases of the tasks this processor holds, in one round trip per interval, so a
long task never needs a long lease and a dead processor's tasks come back within one lease."""

from __future__ import annotations

from tandemq.common.broker import Broker
from tandemq.common.logging import get_logger

from .leases import Leases


class Heartbeat:
    def __init__(self, *, broker: Broker, owner: str, leases: Leases, lease_ms: int) -> None:
        self._broker = broker
        self._owner = owner
        self._leases = leases
        self._lease_ms = lease_ms
        self._log = get_logger(__name__, component="heartbeat")

    @property
    def interval(self) -> float:
        return self._lease_ms / 1000 / 3

    async def step(self) -> float:
        held = self._leases.held()
        if held:
            for queue, task_id in await self._broker.extend(self._owner, held, self._lease_ms):
                # Recovered while we ran it (we stalled): it may run elsewhere; our outcome
                # write will be refused, so stop renewing it.
                self._leases.release(queue, task_id)
                self._log.warning("task.lease_lost", task_id=task_id, queue=queue, step="heartbeat")
        return self.interval
