"""taskiq measurements for any taskiq-redis broker; ``taskiq_stream`` and ``taskiq_list`` pick
the broker. No result backend is configured (taskiq's default), so taskiq keeps no result or
state per task; it has no bulk enqueue, so bulk is "-"."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from taskiq import AsyncBroker
from taskiq.receiver import Receiver

from . import _harness as h

BrokerFactory = Callable[[str], AsyncBroker]


class Bench:
    """The measurements, bound to one broker class."""

    def __init__(self, make_broker: BrokerFactory) -> None:
        self._make_broker = make_broker

    async def _broker(self, url: str) -> tuple[AsyncBroker, Any]:
        broker = self._make_broker(url)

        @broker.task(task_name="noop")
        async def noop(n: int, s: str) -> None:
            h.TRACKER.track(n)

        await broker.startup()  # the stream broker creates its consumer group here
        return broker, noop

    async def enqueue_seq(self, url: str, n: int) -> h.Result:
        broker, task = await self._broker(url)
        started = time.perf_counter()
        await _send_all(task, n)
        result = h.rate(n, started)
        await broker.shutdown()
        return result

    async def enqueue_conc(self, url: str, n: int) -> h.Result:
        broker, task = await self._broker(url)
        started = time.perf_counter()
        await _concurrently(task, n)
        result = h.rate(n, started)
        await broker.shutdown()
        return result

    async def process(self, url: str, n: int) -> h.Result:
        broker, task = await self._broker(url)
        await _concurrently(task, n)
        h.TRACKER.reset(n)
        started = time.perf_counter()
        listen = _Listening(broker)
        await h.TRACKER.wait()
        result = h.rate(n, started)
        await listen.stop()
        return result

    async def latency(self, url: str, n: int) -> h.Result:
        h.TRACKER.reset(n, latency=True)
        broker, task = await self._broker(url)
        listen = _Listening(broker)
        await asyncio.sleep(h.SETTLE_SECONDS)
        await h.send_spaced(lambda ts: task.kiq(ts, h.PAYLOAD), n)
        await h.TRACKER.wait()
        await listen.stop()
        return h.TRACKER.percentiles()

    async def memory(self, url: str, n: int) -> h.Result:
        broker, task = await self._broker(url)
        return await h.amemory_delta(url, lambda: _concurrently(task, n), n, broker.shutdown)

    def measurements(self) -> dict[str, h.Measurement]:
        return {
            "enqueue_seq": self.enqueue_seq,
            "enqueue_conc": self.enqueue_conc,
            "process": self.process,
            "latency": self.latency,
            "memory": self.memory,
        }


async def _send_all(task: Any, count: int) -> None:
    for i in range(count):
        await task.kiq(i, h.PAYLOAD)


async def _concurrently(task: Any, n: int) -> None:
    await asyncio.gather(*(_send_all(task, c) for c in h.shares(n, h.CONCURRENT_SENDERS)))


class _Listening:
    """A receiver running in this process, as ``taskiq worker`` runs one per process."""

    def __init__(self, broker: AsyncBroker) -> None:
        broker.is_worker_process = True
        receiver = Receiver(broker, max_async_tasks=h.CONCURRENCY, run_startup=False)
        self._finish = asyncio.Event()
        self._task = asyncio.create_task(receiver.listen(self._finish))

    async def stop(self) -> None:
        # The finish event, not cancel(): the stream receiver does not stop on cancellation.
        self._finish.set()
        await asyncio.wait([self._task], timeout=5)
