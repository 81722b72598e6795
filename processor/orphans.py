"""Finds orphans: tasks whose hash says ``active`` but that hold no lease (no entry in their
queue's active set: a key deleted by hand, a failover to a replica that missed a write, a
partial eviction). No lease expires for them and no processor renews them, so nothing else
would ever touch them again; they go back to pending (orphans.lua), uncounted.

Each step SCANs ``SCAN_COUNT`` keys of the prefix from where the last step stopped: the cost
of a step is flat whatever the number of tasks, and a full pass over a keyspace of K keys takes
about K / SCAN_COUNT steps, one every ``INTERVAL`` seconds (a million keys: about 17 minutes;
the test database's few hundred: one step). That is the bound on how long an orphan waits.
"""

from __future__ import annotations

from tandemq.common.broker import Broker
from tandemq.common.indexes import ScanAt
from tandemq.common.logging import get_logger

SCAN_COUNT = 1000  # keys examined per step
INTERVAL = 1.0  # seconds between steps


class Orphans:
    def __init__(self, broker: Broker, queues: list[str]) -> None:
        self._broker = broker
        self._queues = set(queues)
        self._at: ScanAt = (0, 0)
        self._log = get_logger(__name__, component="orphans")

    async def step(self) -> float:
        self._at, found = await self._broker.scan_tasks(self._at, SCAN_COUNT)
        ours = {q: ids for q, ids in found.items() if q in self._queues}
        if ours:
            for queue, task_id in await self._broker.return_orphans(ours):
                self._log.warning("task.orphan_returned", task_id=task_id, queue=queue)
        return INTERVAL
