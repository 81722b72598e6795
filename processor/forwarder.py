"""Moves scheduled and retry tasks to pending when due. Sleeps until the earliest due time,
but never longer than MAX_SLEEP, so a task scheduled meanwhile by another client starts at
most that late."""

from __future__ import annotations

from tandemq.common.broker import Broker
from tandemq.common.clock import now_ms

MAX_SLEEP = 0.25


class Forwarder:
    def __init__(self, broker: Broker, queues: list[str]) -> None:
        self._broker = broker
        self._queues = queues

    async def step(self) -> float:
        next_due = await self._broker.forward(self._queues)
        if next_due is None:
            return MAX_SLEEP
        return min(MAX_SLEEP, max(0.0, (next_due - now_ms()) / 1000))
