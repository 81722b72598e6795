"""A fixed number of queues per step, in turn: what the periodic components visit besides the
queues an index points them to, so a step's cost is flat whatever the number of queues, and
every queue is still visited within ``len(queues) / per_step`` steps (a safety net for an index
entry a crashed writer never made)."""

from __future__ import annotations


class Rotation:
    def __init__(self, queues: list[str], per_step: int) -> None:
        self._queues = queues
        self._per_step = max(1, per_step)
        self._at = 0

    def next(self) -> list[str]:
        """The next ``per_step`` queues (all of them when there are no more)."""
        if len(self._queues) <= self._per_step:
            return list(self._queues)
        end = self._at + self._per_step
        batch = self._queues[self._at : end]
        if end > len(self._queues):
            batch += self._queues[: end - len(self._queues)]
        self._at = end % len(self._queues)
        return batch
