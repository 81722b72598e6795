"""Which of this processor's queues are paused (``tandemq queue pause``): read twice a second,
so a paused queue is skipped by every processor within a second. The fetcher leaves the
paused queues out of its draw; tasks already fetched run to their end.

A step reads the index of paused queues (``p:paused``, kept by the inspector beside each
queue's flag) and the flags of those and of a few queues in turn (a flag set without the
index, by an older inspector), not every queue's flag: its cost is flat with the number of
queues."""

from __future__ import annotations

from tandemq.common.broker import Broker
from tandemq.common.keys import Keys
from tandemq.common.logging import get_logger
from tandemq.common.task_hash import text

from .rotation import Rotation

INTERVAL = 0.5
ROTATION_PER_STEP = 50  # flags read in turn each step besides the indexed ones


class Pauses:
    def __init__(self, broker: Broker, keys: Keys, queues: list[str]) -> None:
        self._broker = broker
        self._index = keys.paused_queues
        self._flag = {q: keys.queue(q).paused for q in queues}
        self._rotation = Rotation(queues, ROTATION_PER_STEP)
        self.paused: set[str] = set()  # the fetcher reads this set; updated in place
        self._log = get_logger(__name__, component="pauses")

    async def step(self) -> float:
        async with self._broker.transport.guard():
            indexed = {text(q) for q in await self._broker.redis.smembers(self._index)}
        visit = sorted(({q for q in indexed if q in self._flag} | self.paused)
                       .union(self._rotation.next()))  # fmt: skip
        pipe = self._broker.redis.pipeline(transaction=False)
        for queue in visit:
            pipe.exists(self._flag[queue])
        async with self._broker.transport.guard():
            flags = await pipe.execute()
        now = {q for q, flag in zip(visit, flags, strict=True) if flag}  # visit has all paused
        for queue in now - self.paused:
            self._log.info("queue.paused", queue=queue)
        for queue in self.paused - now:
            self._log.info("queue.unpaused", queue=queue)
        self.paused.clear()
        self.paused.update(now)
        return INTERVAL
