"""Listens on the cancel channel: cancel.lua publishes ``queue \\x1f id`` when cancel() finds
the task running, and the processor holding it cancels its handler (Running.cancel) and
records the task canceled (canceled.lua). The reconnecting subscription is the wake listener's.

A processor that misses the message (its subscription was down at that moment) lets the
handler finish; the task's cancel flag still keeps a failed attempt from being retried."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from tandemq.common.logging import get_logger
from tandemq.common.transport import Transport

from .leases import Leases
from .outcome import Outcome
from .running import Running
from .wakeup import WakeListener

_START_CHECKS = 100  # a fetched task not started yet is looked for this many times ...
_START_CHECK_EVERY = 0.01  # ... this far apart (seconds): fetched tasks start at once


class CancelListener(WakeListener):
    def __init__(
        self,
        *,
        redis: Redis,
        channel: str,
        running: Running,
        leases: Leases,
        outcome: Outcome,
        transport: Transport | None = None,
    ) -> None:
        super().__init__(redis, channel, set(), asyncio.Event(), transport=transport)
        self._running = running
        self._leases = leases
        self._outcome = outcome
        self._stops: set[asyncio.Task[Any]] = set()
        self._log = get_logger(__name__, component="cancel")

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            for stop in self._stops:
                stop.cancel()

    def _on_message(self, data: object) -> None:
        if not isinstance(data, bytes):
            return
        queue, _, task_id = data.decode(errors="replace").partition("\x1f")
        if self._leases.holds(queue, task_id):  # not ours: another processor runs it
            stop = asyncio.get_running_loop().create_task(self._stop(queue, task_id))
            self._stops.add(stop)
            stop.add_done_callback(self._stops.discard)

    async def _stop(self, queue: str, task_id: str) -> None:
        """Cancel the task's handler and record it canceled; a task fetched but not started
        yet is waited for briefly. One whose handler has returned keeps its outcome."""
        for _ in range(_START_CHECKS):
            type_ = self._type_running(queue, task_id)
            if type_ is not None and self._running.cancel(queue, task_id, "canceled"):
                self._log.info("task.cancel_received", task_id=task_id, queue=queue, type=type_)
                await self._outcome.canceled(queue, task_id, type_)
                return
            if not self._leases.holds(queue, task_id):
                return  # finished meanwhile: its outcome landed (retry.lua honours the flag)
            await asyncio.sleep(_START_CHECK_EVERY)

    def _type_running(self, queue: str, task_id: str) -> str | None:
        for handler in self._running.snapshot():
            if handler["task_id"] == task_id and handler["queue"] == queue:
                return str(handler["type"])
        return None
