"""The leases this processor holds: a task's id from its dequeue until its outcome (ack, retry,
archive) has landed in Redis or its lease was found lost. The heartbeat renews them, a fetch
after a failed dequeue tells Redis which it still holds (reclaim), and shutdown gives back
whatever is left."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable

from tandemq.common.clock import now_ms
from tandemq.common.task import TaskMessage


class Leases:
    def __init__(self) -> None:
        self._held: defaultdict[str, set[str]] = defaultdict(set)
        # (queue, id) -> (type, taken at ms) of every held task, for the heartbeat record
        self._running: dict[tuple[str, str], tuple[str, int]] = {}

    def hold(self, tasks: Iterable[TaskMessage]) -> None:
        """The tasks were leased to this processor (dequeued)."""
        now = now_ms()
        for task in tasks:
            self._held[task.queue].add(task.id)
            self._running[(task.queue, task.id)] = (task.type, now)

    def release(self, queue: str, task_id: str) -> None:
        """The task's outcome landed (or its lease was lost): stop renewing it."""
        self._held[queue].discard(task_id)
        self._running.pop((queue, task_id), None)

    def holds(self, queue: str, task_id: str) -> bool:
        """Whether this processor holds the task's lease (fetched, its outcome not landed)."""
        return task_id in self._held.get(queue, ())

    def held(self) -> dict[str, list[str]]:
        """Ids held, per queue (queues holding none left out)."""
        return {q: list(ids) for q, ids in self._held.items() if ids}

    def __len__(self) -> int:
        return sum(len(ids) for ids in self._held.values())

    def running(self, most: int) -> list[tuple[tuple[str, str], tuple[str, int]]]:
        """Up to ``most`` held tasks as ((queue, id), (type, taken at ms)), oldest first."""
        return list(itertools.islice(self._running.items(), most))
