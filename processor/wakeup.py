"""Listens on the wake channel: the enqueue, forward and requeue scripts publish a queue's name
when its pending list goes from empty to non-empty, and an idle fetcher waits on this event
instead of sleeping. Missed messages cost at most one fallback poll interval."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from common.logging import get_logger


class WakeListener:
    def __init__(self, redis: Redis, channel: str, queues: set[str], wake: asyncio.Event) -> None:
        self._redis = redis
        self._channel = channel
        self._queues = {q.encode() for q in queues}
        self._wake = wake
        self._log = get_logger(component="wakeup")
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any Redis failure: resubscribe after a pause
                self.subscribed.clear()
                self._log.error(
                    "redis.unavailable", step="wakeup", error=str(exc), retry_in=backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _listen(self) -> None:
        async with self._redis.pubsub() as pubsub:
            await pubsub.subscribe(self._channel)
            self.subscribed.set()
            self._wake.set()  # anything published while we were not listening
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                if message is not None and message.get("data") in self._queues:
                    self._wake.set()
