"""Deletes completed tasks past their retention and archived tasks past the size or age limit.

A few queues per step, in turn (``Rotation``): trimming is not urgent, and a step then costs
the same on 10 queues or 10,000 (each queue is trimmed every ``Q / PER_STEP`` steps)."""

from __future__ import annotations

from tandemq.common.broker import Broker
from tandemq.common.logging import get_logger

from .rotation import Rotation

PER_STEP = 20  # queues trimmed per step


class Janitor:
    def __init__(
        self, broker: Broker, queues: list[str], max_size: int, max_age_ms: int, interval: float
    ) -> None:
        self._broker = broker
        self._rotation = Rotation(queues, PER_STEP)
        self._max_size = max_size
        self._max_age_ms = max_age_ms
        self._interval = interval
        self._log = get_logger(__name__, component="janitor")

    async def step(self) -> float:
        deleted = await self._broker.trim(self._rotation.next(), self._max_size, self._max_age_ms)
        if deleted:
            self._log.debug("task.trimmed", count=deleted)
        return self._interval
