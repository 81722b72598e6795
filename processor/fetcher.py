"""Fills free slots: draws queues for them, leases tasks in one round trip, hands them to the
workers; waits for a wake-up (or the fallback poll) when every queue is empty.

Per-queue limits: a queue at its concurrency cap (Slots.room) is left out of the draw until
one of its tasks finishes; a queue held back by its rate limit (enforced in dequeue.lua) is
left out of this fetch, and an idle fetcher waits no longer than until its next task is
allowed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Set

from tandemq.common.broker import Broker
from tandemq.common.logging import failure_event, get_logger
from tandemq.common.ratelimit import RateLimit
from tandemq.common.task import TaskMessage

from .backoff import Backoff
from .idle import IdleTakes
from .leases import Leases
from .selection import strict_counts, weighted_counts
from .slots import Slots
from .vanished import Vanished

MARK_EVERY = 60.0  # seconds between two p:leased marks of one queue by one fetcher

MAX_BLOCKING_QUEUES = 8  # an idle processor parks a take (a connection) per queue up to this
PAUSE_SECONDS = 0.5  # longest a blocking take waits: a queue paused meanwhile is left soon


class Fetcher:
    def __init__(
        self,
        *,
        broker: Broker,
        owner: str,
        queues: dict[str, int],
        strict: bool,
        slots: Slots,
        leases: Leases,
        out: asyncio.Queue[TaskMessage],
        wake: asyncio.Event,
        lease_ms: int,
        poll_interval: float,
        blocking_take: bool = True,
        rates: Mapping[str, RateLimit] | None = None,
        paused: Set[str] = frozenset(),
    ) -> None:
        self._broker = broker
        self._paused = paused  # queues paused by an operator (processor/pauses.py keeps it)
        self._owner = owner
        self._queues = queues
        self._order = list(queues)
        self._strict = strict
        self._slots = slots
        self._leases = leases
        self._out = out
        self._wake = wake
        self._lease_ms = lease_ms
        self._poll_interval = poll_interval
        self._orphans_possible = False  # set when a dequeue failed: see _reclaim
        self._vanished = Vanished()
        self._marked: dict[str, float] = {}  # queue -> when it was last marked in p:leased
        self.fetching = False  # the last fetch reached Redis (readiness, processor/health.py)
        self._rates = dict(rates or {})
        self._rate_wait_ms: int | None = None  # the soonest a rate-limited queue may give more
        self.idle = asyncio.Event()  # set while it waits for work: every queue was empty
        self._log = get_logger(__name__, component="fetcher")
        self._idle = IdleTakes(
            broker=broker,
            owner=owner,
            lease_ms=lease_ms,
            # a take parked before its queue was paused returns within PAUSE_SECONDS
            block_seconds=min(poll_interval, PAUSE_SECONDS),
            on_taken=self._taken,
            enabled=blocking_take,
        )

    async def run(self) -> None:
        try:
            await self._run()
        finally:  # tasks parked takes bring are handed over, for shutdown to give back
            await self._idle.aclose()

    async def _run(self) -> None:
        backoff = Backoff()
        fetch_next = True
        while True:
            free = await self._slots.wait_free()
            self._wake.clear()
            self._slots.cap_freed.clear()
            try:
                if self._orphans_possible:
                    await self._reclaim()
                got = 0
                # After takes that only timed out, parking them again finds what a fetch would.
                if fetch_next or not self._blocking_queues(free):
                    got = await self.fetch(free - self._idle.outstanding)
                fetch_next = True
                if got == 0:
                    fetch_next = await self._wait_for_work(free)
                backoff.succeeded()
                self.fetching = True
            except Exception as exc:  # unreachable, or refused (READONLY, ...): back off, go on
                self.fetching = False
                self._orphans_possible = True  # a dequeue may have run without its reply
                event = failure_event(exc, "fetch.failed")
                error = str(exc) or repr(exc)
                self._log.error(event, step="fetch", error=error, retry_in=backoff.delay)
                await backoff.wait()

    async def _reclaim(self) -> None:
        """Tasks a failed dequeue may have leased to us go back to pending (see
        Broker.dequeue); done before the next fetch, so nothing we hold is in flight."""
        await self._idle.settle()
        given_back = await self._broker.reclaim(
            list(self._queues), self._owner, self._leases.held()
        )
        self._orphans_possible = False
        if given_back:
            self._log.warning("task.reclaimed", count=given_back)

    async def _mark_leased(self, queues: list[str]) -> None:
        """Tell recoverers these queues hold leases (p:leased), at most once a minute each:
        the heartbeat marks them too while their tasks run."""
        now = time.monotonic()
        due = [q for q in queues if now - self._marked.get(q, -MARK_EVERY) >= MARK_EVERY]
        if not due:
            return
        try:
            await self._broker.mark_leased(due)
        except Exception as exc:  # the tasks are leased: hand them over; mark next time
            self._log.warning("fetch.mark_failed", error=str(exc) or repr(exc))
            return
        self._marked.update(dict.fromkeys(due, now))

    async def _wait_for_work(self, free: int) -> bool:
        """Every queue was empty: park a blocking take on each (the task comes in the reply
        that wakes us) when there is a slot for each; else wait for a wake-up message.
        Returns whether to fetch next (not after takes that brought nothing)."""
        self.idle.set()
        try:
            return await self._wait(free)
        finally:
            self.idle.clear()

    async def _wait(self, free: int) -> bool:
        queues = self._blocking_queues(free)
        if queues:
            # marked before parking: a take leases, and a taking list waits for a recoverer
            await self._mark_leased(queues)
            return await self._idle.wait(queues) > 0
        # Wake-ups are the way work is noticed (and every resubscription wakes us); the
        # fallback poll only covers a lost message. It asks every queue, so it is spread out
        # with their number: an idle processor's cost stays flat (a queue in 100 per interval).
        timeout = self._poll_interval * max(1.0, len(self._queues) / 100)
        if self._rate_wait_ms is not None:
            timeout = min(timeout, self._rate_wait_ms / 1000)
        try:
            async with asyncio.timeout(timeout):
                if self._slots.capped:  # a capped queue's finished task frees room too
                    await _either(self._wake, self._slots.cap_freed)
                else:
                    await self._wake.wait()
        except TimeoutError:
            pass
        return True

    async def fetch(self, slots: int) -> int:
        """Lease up to ``slots`` tasks; a queue that comes back short is empty for this fetch
        and its unfilled slots are drawn again among the others."""
        empty: set[str] = self._slots.full() if self._slots.capped else set()
        empty.update(self._paused)  # paused by an operator: left out like an empty queue
        got = 0
        self._rate_wait_ms = None
        while slots > got:
            counts = self._counts(slots - got, empty)
            if self._slots.capped:
                counts = self._within_caps(counts, empty)
            if not counts:
                if empty.issuperset(self._queues):
                    break
                continue
            taken, missing = await self._dequeue(counts)
            await self._mark_leased([q for q, tasks in taken.items() if tasks])
            for queue, task_id in missing:
                self._log.debug("task.missing", task_id=task_id, queue=queue)
            self._vanished.add(missing)
            for queue, asked in counts.items():
                tasks = taken.get(queue, [])
                if len(tasks) + sum(1 for q, _ in missing if q == queue) < asked:
                    empty.add(queue)
                self._hand_over(tasks)
                got += len(tasks)
        return got

    async def _dequeue(
        self, counts: dict[str, int]
    ) -> tuple[dict[str, list[TaskMessage]], list[tuple[str, str]]]:
        """Lease tasks; if cancelled (shutdown) mid-call, still take what the script leased,
        so shutdown gives it back at once instead of after the lease expires."""
        call = asyncio.ensure_future(
            self._broker.dequeue_limited(counts, self._owner, self._lease_ms, self._rates)
        )
        try:
            taken, missing, waits = await asyncio.shield(call)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                taken, _, _ = await call
                for tasks in taken.values():
                    self._hand_over(tasks)
            raise
        if waits:
            soonest = min(waits.values())
            self._rate_wait_ms = min(self._rate_wait_ms or soonest, soonest)
        return taken, missing

    def _within_caps(self, counts: dict[str, int], empty: set[str]) -> dict[str, int]:
        """``counts`` cut to each queue's room; a queue that reaches its cap is left out of
        the rest of this fetch (its cut slots are drawn again among the others)."""
        within = {}
        for queue, n in counts.items():
            room = self._slots.room(queue)
            if room <= n:
                empty.add(queue)
            if min(n, room) > 0:
                within[queue] = min(n, room)
        return within

    def _blocking_queues(self, free: int) -> list[str]:
        """The queues to park blocking takes on, or none (wait for a wake-up instead)."""
        # A take bypasses the dequeue's rate limit and the draw's per-queue caps: those
        # queues wait for wake-ups as before; so do many queues (a connection each).
        if (
            not self._idle.usable
            or len(self._queues) > min(free, MAX_BLOCKING_QUEUES)
            or self._rates
            or self._slots.capped
        ):
            return []
        return [q for q in self._queues if q not in self._paused]

    def _taken(self, queue: str, tasks: list[TaskMessage], missing: list[str]) -> None:
        """What a blocking take leased (see processor/idle.py). A take parked before its
        queue was paused may bring a task after: not run, but given back uncounted by the
        reclaim that runs before the next fetch (it is leased to us and held by no one)."""
        for task_id in missing:
            self._log.debug("task.missing", task_id=task_id, queue=queue)
        self._vanished.add([(queue, task_id) for task_id in missing])
        if queue in self._paused and tasks:
            self._orphans_possible = True
            return
        self._hand_over(tasks)

    def _counts(self, slots: int, empty: set[str]) -> dict[str, int]:
        if self._strict:
            return strict_counts(self._order, slots, empty)
        return weighted_counts(self._queues, slots, empty)

    def _hand_over(self, tasks: list[TaskMessage]) -> None:
        if tasks:
            self._slots.take(len(tasks), tasks[0].queue)
        self._leases.hold(tasks)
        for task in tasks:
            self._out.put_nowait(task)

    def drain(self) -> list[TaskMessage]:
        """Fetched tasks no worker has started (at shutdown); their slots are freed."""
        left = []
        while not self._out.empty():
            task = self._out.get_nowait()
            left.append(task)
            self._slots.finish(task.queue)
        return left


async def _either(*events: asyncio.Event) -> None:
    """Wait until any of ``events`` is set."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
