"""Intake storage: the Redis commands that take items from a user's list or stream and turn
them into tasks (the intake_* Lua scripts). The processor's intake components
(processor/intake_list.py, processor/intake_stream.py) decide when; this module says how.

Besides the user's list or stream, only tandemq's own prefixed keys are touched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from .broker import Broker
from .clock import now_ms
from .errors import RedisRefused
from .keys import IntakeKeys

# An expired list consumer stays listed this long: longer than any resent move can be late.
FORGET_AFTER_MS = 60_000


@dataclass(frozen=True, slots=True)
class IntakeTask:
    """One item as a task to write: parsed (``error`` empty) or rejected (``payload`` is the
    raw item, ``error`` says why; written as archived)."""

    id: str
    type: str
    payload: bytes
    error: str = ""


@dataclass(frozen=True, slots=True)
class StreamEntry:
    id: str
    fields: dict[bytes, bytes] | None  # None: deleted from the stream while pending


class IntakeStore:
    """The intake's Redis commands over a broker's client and scripts."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._redis = broker.redis
        self._timeout = broker.timeout

    async def _guarded(self, coro: Awaitable[Any], extra: float = 0.0) -> Any:
        """Bound a plain command by the broker's timeout (plus ``extra`` for one that blocks);
        failures to reach Redis become BrokerUnavailable, as for script calls."""
        async with self._broker.transport.guard(bounded=False):
            async with asyncio.timeout(self._timeout + extra):
                return await coro

    # -- lists ----------------------------------------------------------------------------

    async def move(
        self, keys: IntakeKeys, consumer: str, lease_ms: int, block: float, count: int
    ) -> list[bytes]:
        """Move up to ``count`` items, oldest first, into the consumer's processing list; when
        the list is empty, wait up to ``block`` seconds for one (BLMOVE).

        Moves are sent after renewing the consumer's lease on the same connection, so an item
        never reaches a processing list whose consumer the sweep could miss (``block`` must
        stay below the lease: see IntakeList)."""
        processing = keys.processing(consumer)
        pipe = self._redis.pipeline(transaction=False)
        pipe.zadd(keys.consumers, {consumer: now_ms() + lease_ms})
        for _ in range(count):
            pipe.lmove(keys.source, processing, "RIGHT", "LEFT")
        moved = [item for item in (await self._guarded(pipe.execute()))[1:] if item is not None]
        if moved:
            return moved
        pipe = self._redis.pipeline(transaction=False)
        pipe.zadd(keys.consumers, {consumer: now_ms() + lease_ms})
        # (typed as whole seconds in redis-py; Redis takes a fraction)
        pipe.execute_command("BLMOVE", keys.source, processing, "RIGHT", "LEFT", block)
        _, first = await self._guarded(pipe.execute(), extra=block)
        return [] if first is None else [first]

    async def write_list(
        self,
        keys: IntakeKeys,
        consumer: str,
        queue: str,
        max_retry: int,
        tasks: Sequence[IntakeTask],
    ) -> int:
        """Write the tasks and empty the consumer's processing list in one script; returns
        how many were written (0: the processing list no longer matched, nothing written)."""
        qk = self._broker.keys.queue(queue)
        args: list[Any] = [
            qk.task_prefix,
            self._broker.keys.wake_channel,
            queue,
            now_ms(),
            max_retry,
        ]
        for t in tasks:
            args += [t.id, t.type, t.payload, t.error]
        await self._broker.register_queues((queue,))
        call_keys = (keys.processing(consumer), qk.pending, qk.archived)
        return int(await self._broker.transport.call("intake_list", call_keys, args))

    async def recover_list(
        self, keys: IntakeKeys, consumer: str = "", forget_after_ms: int = FORGET_AFTER_MS
    ) -> tuple[int, int]:
        """Give the items of expired consumers (or of ``consumer``) back to the list; an
        expired consumer stays listed until ``forget_after_ms`` past its deadline. Returns
        (consumers swept, items)."""
        args = (now_ms(), keys.processing_prefix, consumer, now_ms() - forget_after_ms)
        done, items = await self._broker.transport.call(
            "intake_recover", (keys.consumers, keys.source), args
        )
        return int(done), int(items)

    # -- streams --------------------------------------------------------------------------

    async def create_group(self, stream: str, group: str, start: str) -> None:
        """Create the consumer group (and the stream, if absent); an existing one is kept."""
        try:
            await self._guarded(self._redis.xgroup_create(stream, group, start, mkstream=True))
        except (ResponseError, RedisRefused) as exc:  # the transport's guard types error replies
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(
        self, stream: str, group: str, consumer: str, count: int, block: float, own: bool
    ) -> list[StreamEntry]:
        """New entries for this consumer (waiting up to ``block`` seconds), or with ``own``
        the ones already delivered to it and not acknowledged (after a lost reply)."""
        reply = await self._guarded(
            self._redis.xreadgroup(
                group,
                consumer,
                {stream: "0" if own else ">"},
                count=count,
                block=None if own else max(1, int(block * 1000)),
            ),
            extra=block,
        )
        return [_entry(i, f) for _, entries in (reply or []) for i, f in entries]

    async def claim(
        self, stream: str, group: str, consumer: str, idle_ms: int, count: int
    ) -> list[StreamEntry]:
        """Claim for this consumer the entries pending longer than ``idle_ms`` with others
        (dead or stalled consumers); entries deleted meanwhile come back with no fields."""
        claimed: list[StreamEntry] = []
        start = "0-0"
        while True:
            reply = await self._guarded(
                self._redis.xautoclaim(stream, group, consumer, idle_ms, start, count=count)
            )
            start = _text(reply[0])
            claimed += [_entry(i, f) for i, f in reply[1] if i is not None]
            claimed += [StreamEntry(_text(i), None) for i in (reply[2] if len(reply) > 2 else [])]
            if start == "0-0" or len(claimed) >= count:
                return claimed

    async def write_stream(
        self,
        stream: str,
        group: str,
        consumer: str,
        queue: str,
        max_retry: int,
        entries: Sequence[tuple[str, IntakeTask]],
    ) -> int:
        """Write the tasks and XACK their entries in one script, skipping entries no longer
        pending for this consumer; returns how many were written."""
        qk = self._broker.keys.queue(queue)
        args: list[Any] = [group, consumer, qk.task_prefix, self._broker.keys.wake_channel]
        args += [queue, now_ms(), max_retry]
        for entry_id, t in entries:
            args += [entry_id, t.id, t.type, t.payload, t.error]
        await self._broker.register_queues((queue,))
        return int(
            await self._broker.transport.call(
                "intake_stream", (stream, qk.pending, qk.archived), args
            )
        )

    async def forget_idle_consumers(self, stream: str, group: str, idle_ms: int) -> int:
        """Delete consumers with nothing pending, idle longer than ``idle_ms`` (dead
        processors' names); a live one deleted by mistake is made again by its next read."""
        consumers = await self._guarded(self._redis.xinfo_consumers(stream, group))
        gone = 0
        for c in consumers:
            if int(c["pending"]) == 0 and int(c["idle"]) > idle_ms:
                await self._guarded(self._redis.xgroup_delconsumer(stream, group, c["name"]))
                gone += 1
        return gone


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry(entry_id: Any, fields: Any) -> StreamEntry:
    return StreamEntry(_text(entry_id), dict(fields) if fields is not None else None)
