"""An idle processor's blocking take from one queue: the task comes in the reply that wakes it.

On a connection of its own (a blocking command holds its connection), three commands leave
together: ``ZADD p:{q}:takers`` (this owner, with a deadline), ``BLMOVE p:{q}:pending
p:{q}:taking:<owner> RIGHT LEFT <timeout>``, and ``take.lua``. Redis parks the move until a
task is pushed; then it runs the move and, in the same turn, the script waiting behind it on
the connection, which leases what the move took exactly as a dequeue would. Both replies leave
in one write: no wake-up message followed by a dequeue round trip.

At-least-once holds across the gap between the move and the lease: an id the move took sits
in the owner's taking list, and the owner is listed in ``takers`` until a lease after the
move's timeout, so a processor killed between the two has its taking list given back to
pending by ``take_recover.lua`` (the recoverer's step). ``take.lua`` empties the list each
time it runs, so a live processor never leaves one behind.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .broker import Broker
from .clock import now_ms
from .task import TaskMessage
from .task_hash import messages_from_rows
from .transport import Call, evalsha
from .wire import Wire, let_go, pack, typed


class BlockingTake:
    """Blocking takes from ``queue`` for ``owner``, one at a time, on ``wire`` (a connection
    of their own: see ``Transport.blocking_wire``)."""

    def __init__(self, broker: Broker, wire: Wire, queue: str, owner: str) -> None:
        self._broker = broker
        self._wire = wire
        self._queue = queue
        self._owner = owner
        self._client_id: int | None = None  # this connection's CLIENT ID, for CLIENT UNBLOCK
        self._busy = False

    async def take(self, lease_ms: int, block_ms: int) -> tuple[list[TaskMessage], list[str]]:
        """Wait up to ``block_ms`` for a task and lease it for ``lease_ms`` (counted from the
        call: keep ``block_ms`` well below ``lease_ms``; the heartbeat renews it at once).
        Returns (tasks, ids whose data was missing), both empty on timeout. Raises
        BrokerUnavailable or WireLost: then a task may be leased to ``owner`` and held by
        no one (give it back with Broker.reclaim)."""
        qk = self._broker.keys.queue(self._queue)
        now = now_ms()
        call: Call = (
            "take",
            (qk.taking(self._owner), qk.active, qk.archived, qk.takers),
            (now + lease_ms, self._owner, qk.task_prefix, now),
        )
        commands = [
            pack(["CLIENT", "ID"]),
            pack(["ZADD", qk.takers, now + block_ms + lease_ms, self._owner]),
            pack(
                ["BLMOVE", qk.pending, qk.taking(self._owner), "RIGHT", "LEFT", _seconds(block_ms)]
            ),
            evalsha(call),
        ]
        self._busy = True
        futures: list[asyncio.Future[Any]] = []
        try:
            futures = await self._wire.send(commands, block_ms / 1000 + self._broker.timeout)
            self._client_id = await futures[0]  # first, for unblock() while parked
            replies = [typed(await f) for f in futures[1:]]
        except BaseException:
            let_go(futures)  # the connection failed or we were cancelled: no one awaits them
            raise
        finally:
            self._busy = False
        for reply in replies[:2]:
            if isinstance(reply, Exception):
                raise reply
        flat: Any = (await self._broker.transport.settle([call], replies[2:]))[0]
        if isinstance(flat, Exception):
            raise flat
        return messages_from_rows(self._queue, flat)

    async def unblock(self) -> None:
        """Make a parked take return now, as if its wait had timed out (it still leases and
        returns whatever its move took)."""
        if self._busy and self._client_id is not None:
            async with self._broker.transport.guard():
                await self._broker.redis.client_unblock(self._client_id)

    async def aclose(self) -> None:
        await self._wire.aclose()


def _seconds(ms: int) -> str:
    """BLMOVE's timeout (seconds, decimals allowed); never 0, which would block forever."""
    return f"{max(ms, 1) / 1000:.3f}"
