"""Which of this processor's queues are paused (``tandemq queue pause``): read twice a second,
so a paused queue is skipped by every processor within a second. The fetcher leaves the
paused queues out of its draw; tasks already fetched run to their end."""

from __future__ import annotations

from tandemq.common.broker import Broker
from tandemq.common.keys import Keys
from tandemq.common.logging import get_logger

INTERVAL = 0.5


class Pauses:
    def __init__(self, broker: Broker, keys: Keys, queues: list[str]) -> None:
        self._broker = broker
        self._keys = [keys.queue(q).paused for q in queues]
        self._queues = queues
        self.paused: set[str] = set()  # the fetcher reads this set; updated in place
        self._log = get_logger(component="pauses")

    async def step(self) -> float:
        pipe = self._broker.redis.pipeline(transaction=False)
        for key in self._keys:
            pipe.exists(key)
        async with self._broker.transport.guard():
            flags = await pipe.execute()
        now = {q for q, flag in zip(self._queues, flags, strict=True) if flag}
        for queue in now - self.paused:
            self._log.info("queue.paused", queue=queue)
        for queue in self.paused - now:
            self._log.info("queue.unpaused", queue=queue)
        self.paused.clear()
        self.paused.update(now)
        return INTERVAL
