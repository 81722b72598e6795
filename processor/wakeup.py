"""Listens on the wake channel: the enqueue, forward and requeue scripts publish a queue's name
when its pending list goes from empty to non-empty, and an idle fetcher waits on this event
instead of sleeping. Missed messages cost at most one fallback poll interval."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from tandemq.common.logging import get_logger
from tandemq.common.transport import Transport

from .backoff import Backoff


class WakeListener:
    def __init__(
        self,
        redis: Redis,
        channel: str,
        queues: set[str],
        wake: asyncio.Event,
        transport: Transport | None = None,
    ) -> None:
        self._redis = redis
        self._channel = channel
        self._queues = {q.encode() for q in queues}
        self._wake = wake
        # A subscription on the transport's pipelining connection sets the event straight
        # from the socket read; redis-py's pub/sub reader took about 250 us more per wake-up.
        self._transport = transport if transport is not None and transport.can_subscribe else None
        self._log = get_logger(__name__, component="wakeup")
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        backoff = Backoff()
        while True:
            try:
                await (self._listen_direct() if self._transport is not None else self._listen())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any Redis failure: resubscribe after a pause
                if self.subscribed.is_set():  # it had worked: a new outage, a short first wait
                    backoff.succeeded()
                self.subscribed.clear()
                self._log.error(
                    "redis.unavailable", step="wakeup", error=str(exc), retry_in=backoff.delay
                )
                await backoff.wait()

    def _on_message(self, data: object) -> None:
        if data in self._queues:
            self._wake.set()

    async def _listen_direct(self) -> None:
        assert self._transport is not None
        subscription = await self._transport.subscribe(self._channel, self._on_message)
        try:
            self.subscribed.set()
            self._wake.set()  # anything published while we were not listening
            raise await subscription.closed()
        finally:
            subscription.close()

    async def _listen(self) -> None:
        async with self._redis.pubsub() as pubsub:
            await pubsub.subscribe(self._channel)
            self.subscribed.set()
            self._wake.set()  # anything published while we were not listening
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                if message is not None:
                    self._on_message(message.get("data"))
