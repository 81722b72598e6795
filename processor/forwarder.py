"""Moves scheduled and retry tasks to pending when due.

It does not look at every queue every time: writers of scheduled and retry tasks mark their
queue in ``p:due`` (common/lua/mark.lua), and each step forwards the queues marked due by now,
then sets each one's mark to its next due time (or removes it) unless it was marked again
meanwhile (due_settle.lua). A few queues in turn are forwarded too (``Rotation``), in case a
writer died between its write and its mark. So an idle step costs the same on 10 queues or
10,000. Sleeps until the earliest mark, but never longer than MAX_SLEEP, so a task scheduled
meanwhile by another client starts at most that late.
"""

from __future__ import annotations

from tandemq.common.broker import Broker
from tandemq.common.clock import now_ms

from .rotation import Rotation

MAX_SLEEP = 0.25
MARKED_PER_STEP = 500  # most marked queues forwarded in one step
ROTATION_PER_STEP = 5  # queues forwarded in turn each step: every queue every Q/20 seconds


class Forwarder:
    def __init__(self, broker: Broker, queues: list[str]) -> None:
        self._broker = broker
        self._queues = set(queues)
        self._rotation = Rotation(queues, ROTATION_PER_STEP)

    async def step(self) -> float:
        now = now_ms()
        marked = [(q, s) for q, s in await self._broker.due_queues(now, MARKED_PER_STEP)
                  if q in self._queues]  # fmt: skip
        visit = {q for q, _ in marked} | set(self._rotation.next())
        next_due = await self._broker.forward_each(sorted(visit))
        await self._broker.settle_due([(q, score, next_due[q]) for q, score in marked])
        for queue in visit - {q for q, _ in marked}:
            due = next_due[queue]
            if due is not None:  # found outside the index: index it
                await self._broker.mark_due(queue, due)
        if len(marked) == MARKED_PER_STEP:
            return 0.0  # more are due: go on at once
        return MAX_SLEEP
