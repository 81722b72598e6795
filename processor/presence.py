"""The processor's heartbeat record: who it is and what it runs, rewritten every interval with
a TTL of a few intervals (common/presence.py), so ``tandemq processors`` lists the live ones
and a dead one disappears on its own; removed at once on a clean shutdown."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from importlib import metadata

from tandemq.common.broker import Broker
from tandemq.common.clock import from_ms, now_ms
from tandemq.common.presence import BEATS_TO_LIVE, RUNNING_SHOWN, ProcessorInfo, RunningTask
from tandemq.common.settings import Settings

from .leases import Leases
from .slots import Slots


def _version() -> str:
    try:
        return metadata.version("tandemq")
    except metadata.PackageNotFoundError:  # run from a checkout without installing
        return "unknown"


class Presence:
    def __init__(
        self, broker: Broker, processor_id: str, settings: Settings, leases: Leases, slots: Slots
    ) -> None:
        self._broker = broker
        self._id = processor_id
        self._settings = settings
        self._leases = leases
        self._slots = slots
        self._started_ms = now_ms()
        # as often as the lease heartbeat, but at least every 5 s and at most every second
        self.interval = min(max(settings.lease_seconds / 3, 1.0), 5.0)
        self._version = _version()

    def info(self, now: int) -> ProcessorInfo:
        s = self._settings
        running = [
            RunningTask(id=task_id, queue=queue, type=type_, started_at=from_ms(started))
            for (queue, task_id), (type_, started) in self._leases.running(RUNNING_SHOWN)
        ]
        return ProcessorInfo(
            id=self._id, host=socket.gethostname(), pid=os.getpid(), version=self._version,
            queues=dict(s.queues), strict_priority=s.strict_priority, concurrency=s.concurrency,
            busy=self._slots.busy, running=running, started_at=from_ms(self._started_ms),
            last_heartbeat=from_ms(now), heartbeat_every=timedelta(seconds=self.interval),
        )  # fmt: skip

    async def step(self) -> float:
        now = now_ms()
        ttl_ms = int(self.interval * BEATS_TO_LIVE * 1000) + 1000
        keys = self._broker.keys
        pipe = self._broker.redis.pipeline(transaction=False)
        pipe.set(keys.processor(self._id), self.info(now).model_dump_json(), px=ttl_ms)
        pipe.zadd(keys.processors, {self._id: now})
        # ids whose record expired long ago: keeps the set to the processors of the last hour
        pipe.zremrangebyscore(keys.processors, "-inf", now - 3_600_000)
        async with self._broker.transport.guard():
            await pipe.execute()
        return self.interval

    async def leave(self) -> None:
        """Remove the record (clean shutdown): the processor is gone from listings at once."""
        keys = self._broker.keys
        pipe = self._broker.redis.pipeline(transaction=False)
        pipe.delete(keys.processor(self._id))
        pipe.zrem(keys.processors, self._id)
        async with self._broker.transport.guard():
            await pipe.execute()
