"""Rolling deploys: a task type this processor does not know may be known to another.

Every processor announces the types it handles in ``p:types`` (type -> last seen, ms) every
``ANNOUNCE_EVERY`` seconds. A task of a type this processor has no handler for is not archived
(and costs no retry) while a live processor handles it (announced within ``LIVE_MS``), or while
no processor has handled it for less than the grace period
(``TANDEMQ_UNKNOWN_TYPE_GRACE_SECONDS``, counted from the later of its last announcement and
the task's send): it is put back, due ``DEFER_SECONDS`` later, for a processor that knows it.
Past the grace period it is archived as ``UnknownTaskType`` with a message saying so.
"""

from __future__ import annotations

from tandemq.common.broker import Broker
from tandemq.common.clock import now_ms
from tandemq.common.errors import TandemqError, UnknownTaskType
from tandemq.common.logging import get_logger
from tandemq.common.task import TaskMessage

from .handlers import Handlers

ANNOUNCE_EVERY = 5.0  # seconds between announcements of one processor
LIVE_MS = 20_000  # announced within this: a live processor handles the type
DEFER_SECONDS = 2.0  # a deferred task comes back this much later


class KnownTypes:
    def __init__(self, broker: Broker, handlers: Handlers, grace_seconds: float) -> None:
        self._broker = broker
        self._handlers = handlers
        self._grace_ms = int(grace_seconds * 1000)
        self.grace_seconds = grace_seconds
        self._log = get_logger(__name__, component="known_types")

    async def step(self) -> float:
        """Announce this processor's types (the ``repeat`` loop calls it)."""
        await self._broker.announce_types(self._handlers.names(), now_ms())
        return ANNOUNCE_EVERY

    async def defer_until(self, task: TaskMessage) -> int | None:
        """When ``task`` (of a type with no handler here) should come back, or None when it
        should be archived: no live processor has known its type for the grace period."""
        now = now_ms()
        try:
            seen = await self._broker.type_seen(task.type)
        except TandemqError as exc:  # cannot tell: waiting is the safe side
            self._log.warning("known_types.unreadable", error=str(exc))
            return now + int(DEFER_SECONDS * 1000)
        live = seen is not None and now - seen <= LIVE_MS
        since = max(seen or 0, task.enqueued_ms)
        if live or now - since <= self._grace_ms:
            return now + int(DEFER_SECONDS * 1000)
        return None

    def final_error(self, exc: UnknownTaskType) -> UnknownTaskType:
        """The error kept in last_error when the task is archived after all."""
        return UnknownTaskType(
            f"{exc}; no live processor has handled this type for {self.grace_seconds:g}s"
            " (TANDEMQ_UNKNOWN_TYPE_GRACE_SECONDS): deploy a processor with a handler for it,"
            " then run the archived task again"
        )
