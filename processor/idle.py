"""An idle fetcher's wait: one blocking take per queue (common/take.py), parked in Redis until
a task is pushed, so the task arrives in the reply that wakes the processor instead of after
a wake-up message and a dequeue round trip.

Used only while idle: the fetcher asks for it when a fetch found every queue empty and there
is a free slot for every queue waited on, so a take never brings more than the slots hold.
A take still parked when the fetcher goes back to fetching keeps its slot reserved
(``outstanding``), and the task it brings is handed over the moment it lands (``on_taken``),
so its lease is renewed from then on. While busy, the fetcher's weighted draw decides alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable

from redis.exceptions import ResponseError

from tandemq.common.broker import Broker
from tandemq.common.errors import RedisPermissionDenied
from tandemq.common.logging import get_logger
from tandemq.common.take import BlockingTake
from tandemq.common.task import TaskMessage

Taken = Callable[[str, list[TaskMessage], list[str]], None]  # queue, tasks, missing ids

# How long settle() waits for unblocked takes to reply: under the 0.5 s after which shutdown
# cancels the fetcher again.
_SETTLE_SECONDS = 0.4


class IdleTakes:
    def __init__(
        self,
        *,
        broker: Broker,
        owner: str,
        lease_ms: int,
        block_seconds: float,
        on_taken: Taken,
        enabled: bool = True,
    ) -> None:
        self._broker = broker
        self._owner = owner
        self._lease_ms = lease_ms
        # Each take's lease counts from its call, so its wait stays well under a lease.
        self._block_ms = max(1, int(min(block_seconds, lease_ms / 3000) * 1000))
        self._on_taken = on_taken
        self._takes: dict[str, BlockingTake] = {}
        self._running: dict[str, asyncio.Task[int]] = {}
        transport = getattr(broker, "transport", None)  # (a unit test's stand-in has none)
        self.usable = enabled and transport is not None and transport.blocking_wire() is not None
        self._log = get_logger(component="fetcher")

    @property
    def outstanding(self) -> int:
        """Takes parked in Redis: a slot each is reserved for what they may bring."""
        return sum(1 for t in self._running.values() if not t.done())

    async def wait(self, queues: Iterable[str]) -> int:
        """Park a take on each of ``queues`` that has none, then wait until one returns
        (with a task, or its wait timed out); returns how many tasks the takes that returned
        brought. Raises the error a take failed with."""
        for queue in queues:
            if queue not in self._running:
                self._running[queue] = asyncio.create_task(self._take(queue))
        await asyncio.wait(self._running.values(), return_when=asyncio.FIRST_COMPLETED)
        return self._reap()

    async def _take(self, queue: str) -> int:
        take = self._takes.get(queue)
        if take is None:
            wire = self._broker.transport.blocking_wire()
            assert wire is not None  # usable was checked
            take = self._takes[queue] = BlockingTake(self._broker, wire, queue, self._owner)
        tasks, missing = await take.take(self._lease_ms, self._block_ms)
        self._on_taken(queue, tasks, missing)
        return len(tasks)

    def _reap(self) -> int:
        """Forget finished takes; returns how many tasks they brought, or raises the first
        one's error. A command Redis refuses (an ACL without BLMOVE or CLIENT, a proxy
        without blocking commands) turns blocking takes off for good: wake-ups and dequeues
        serve as before."""
        error: BaseException | None = None
        brought = 0
        for queue, task in list(self._running.items()):
            if task.done():
                del self._running[queue]
                if task.cancelled():
                    continue
                if task.exception() is None:
                    brought += task.result()
                elif error is None:
                    error = task.exception()
        if _refused(error) and self.usable:
            self.usable = False
            self._log.warning("take.disabled", error=str(error), detail="waiting for wake-ups")
        if error is not None:
            raise error
        return brought

    async def settle(self) -> None:
        """Unblock every parked take and wait (bounded) for them to land, so whatever they
        leased is handed over before the caller reclaims or shuts down."""
        for queue in list(self._running):
            with contextlib.suppress(Exception):
                await self._takes[queue].unblock()
        running = [t for t in self._running.values() if not t.done()]
        if running:
            _, late = await asyncio.wait(running, timeout=_SETTLE_SECONDS)
            for task in late:  # still parked: what it may take waits for its lease to expire
                task.cancel()
            if late:
                await asyncio.wait(late)
        try:
            self._reap()
        except Exception as exc:  # settling: the error is only worth a line
            self._log.warning("take.failed", error=str(exc) or repr(exc))

    async def aclose(self) -> None:
        """Settle, then close the takes' connections."""
        await self.settle()
        for take in self._takes.values():
            await take.aclose()
        self._takes.clear()


def _refused(error: BaseException | None) -> bool:
    """Redis will never run a take for us: NOPERM (ACL), or a server or proxy that does not
    know the command. Not OOM or a failover: those pass."""
    if isinstance(error, RedisPermissionDenied):
        return True
    if not isinstance(error, ResponseError):
        return False
    text = str(error)
    return text.startswith("NOPERM") or "unknown command" in text.lower()
