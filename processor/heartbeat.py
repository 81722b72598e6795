"""Renews the leases of the tasks this processor holds, in one round trip per interval, so a
long task never needs a long lease and a dead processor's tasks come back within one lease."""

from __future__ import annotations

from tandemq.common.broker import Broker
from tandemq.common.logging import get_logger

from .leases import Leases
from .running import Running

LEASE_LOST = "lease lost: the task was recovered and may run elsewhere"


class Heartbeat:
    def __init__(
        self,
        *,
        broker: Broker,
        owner: str,
        leases: Leases,
        lease_ms: int,
        running: Running | None = None,
    ) -> None:
        self._broker = broker
        self._owner = owner
        self._leases = leases
        self._lease_ms = lease_ms
        self._running = running
        self._log = get_logger(__name__, component="heartbeat")

    @property
    def interval(self) -> float:
        return self._lease_ms / 1000 / 3

    async def step(self) -> float:
        held = self._leases.held()
        if held:
            self.lost(await self._broker.extend(self._owner, held, self._lease_ms))
        return self.interval

    def lost(self, tasks: list[tuple[str, str]]) -> None:
        """Leases found gone (we stalled and the task was recovered, perhaps running elsewhere
        now): stop renewing them and cancel their handlers, whose outcome would be refused."""
        for queue, task_id in tasks:
            self._leases.release(queue, task_id)
            cancelled = self._running is not None and self._running.cancel(
                queue, task_id, LEASE_LOST
            )
            self._log.warning(
                "task.lease_lost",
                task_id=task_id,
                queue=queue,
                step="heartbeat",
                cancelled=cancelled,
            )
