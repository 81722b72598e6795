"""Listens on the cancel channel: cancel.lua publishes ``queue \\x1f id`` when cancel() finds
the task running, and the processor holding it stops its handler (Inflight.interrupt); the
runner then records the task canceled. The reconnecting subscription is the wake listener's.

A processor that misses the message (its subscription was down at that moment) lets the
handler finish; the task's cancel flag still keeps a failed attempt from being retried."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from tandemq.common.errors import TaskCanceled
from tandemq.common.logging import get_logger
from tandemq.common.wire import Wire

from .inflight import Inflight
from .wakeup import WakeListener


class CancelListener(WakeListener):
    def __init__(
        self, redis: Redis, channel: str, inflight: Inflight, wire: Wire | None = None
    ) -> None:
        super().__init__(redis, channel, set(), asyncio.Event(), wire=wire)
        self._inflight = inflight
        self._log = get_logger(component="cancel")

    def _on_message(self, data: object) -> None:
        if not isinstance(data, bytes):
            return
        queue, _, task_id = data.decode(errors="replace").partition("\x1f")
        reason = TaskCanceled("canceled by cancel() while it ran")
        if self._inflight.interrupt(queue, task_id, reason):
            self._log.info("task.cancel_received", task_id=task_id, queue=queue)
