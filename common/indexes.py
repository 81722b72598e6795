"""Global indexes beside the task storage, mixed into Broker: the task types live processors
handle (``p:types``, rolling deploys), the queues with work for the periodic components
(``p:due``, ``p:leased``: an idle processor's cost is flat with the number of queues), the
SCAN over task hashes (orphans) and the server's eviction policy. Each index is one global key
written by its own one-key script (mark.lua, due_settle.lua), never inside a queue's script,
which must touch one Cluster slot only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from .calls import ScriptCalls
from .clock import now_ms
from .cluster import every_primary, is_cluster
from .errors import RedisPermissionDenied
from .keys import Keys
from .task_hash import text
from .transport import Call, Transport

ScanAt = tuple[int, int]  # where a SCAN pass is: the primary (0 on one server), its cursor


class Indexes(ScriptCalls):
    redis: Redis
    keys: Keys
    transport: Transport

    async def _call_many(self, calls: Sequence[Call], resend: bool = True) -> list[Any]:
        return await self.transport.call_many(calls, resend)

    # -- task types live processors handle (rolling deploys: processor/known_types.py) ----

    async def announce_types(self, types: Sequence[str], now: int) -> None:
        """Record that a live processor handles ``types``, as of ``now`` (ms)."""
        if types:
            async with self.transport.guard():
                await self.redis.hset(self.keys.types, mapping=dict.fromkeys(types, now))

    async def type_seen(self, type_name: str) -> int | None:
        """When a processor last announced it handles ``type_name`` (ms), or None."""
        async with self.transport.guard():
            seen = await self.redis.hget(self.keys.types, type_name)
        return int(seen) if seen is not None else None

    # -- indexes of queues with work (the periodic components' idle cost) -----------------

    async def mark_leased(self, queues: Sequence[str]) -> None:
        """Record that ``queues`` hold leases now (the recoverer visits them)."""
        if queues:
            await self._call_many([self._mark_call(self.keys.leased, "GT", now_ms(), queues)])

    async def mark_due(self, queue: str, due_ms: int) -> None:
        """Index a queue whose next due time the forwarder found outside the index."""
        await self._call_many([self._mark_call(self.keys.due, "LT", due_ms, [queue])])

    async def due_queues(self, now: int, limit: int) -> list[tuple[str, float]]:
        """Queues whose scheduled/retry sets should be looked at by ``now``, with the score
        read (for settle_due)."""
        async with self.transport.guard():
            rows = await self.redis.zrangebyscore(
                self.keys.due, "-inf", now, start=0, num=limit, withscores=True
            )
        return [(text(row[0]), float(row[1])) for row in rows]

    async def settle_due(self, rows: Sequence[tuple[str, float, int | None]]) -> None:
        """Set each queue's p:due score to its next due time, unless marked meanwhile."""
        if rows:
            args = [x for q, old, due in rows for x in (q, repr(old), "" if due is None else due)]
            await self._call_many([("due_settle", (self.keys.due,), args)])

    async def leased_queues(self, since: int) -> list[str]:
        """Queues that held leases at or after ``since`` (ms)."""
        async with self.transport.guard():
            rows = await self.redis.zrangebyscore(self.keys.leased, since, "+inf")
        return [text(q) for q in rows]

    async def forget_leased(self, before: int) -> None:
        """Drop index entries older than ``before`` (ms): no lease lives that long."""
        async with self.transport.guard():
            await self.redis.zremrangebyscore(self.keys.leased, "-inf", f"({before}")

    async def scan_tasks(self, at: ScanAt, count: int) -> tuple[ScanAt, dict[str, list[str]]]:
        """One SCAN step over this prefix's task hashes: (where the next step starts, ids per
        queue). Cost is bounded by ``count`` whatever the number of keys. On a cluster the
        steps go over one primary after another (``at``: which primary, its SCAN cursor)."""
        node, cursor = at
        if is_cluster(self.redis):  # a cluster's SCAN answers one cursor per node
            primaries = cast(RedisCluster, self.redis).get_primaries()
            target = primaries[node % len(primaries)]
            async with self.transport.guard():
                reply = await self.redis.scan(
                    cursor, match=self.keys.task_pattern, count=count, target_nodes=target
                )
            found = reply[1]
            cursor = int(cast(dict[str, int], reply[0])[target.name])
            at = (node if cursor else (node + 1) % len(primaries), cursor)
        else:
            async with self.transport.guard():
                cursor, found = await self.redis.scan(
                    cursor, match=self.keys.task_pattern, count=count
                )
            at = (0, int(cursor))
        return at, self._tasks_by_queue(found)

    def _tasks_by_queue(self, keys: Sequence[Any]) -> dict[str, list[str]]:
        by_queue: dict[str, list[str]] = {}
        for key in keys:
            parsed = self.keys.parse_task_key(text(key))
            if parsed is not None:
                by_queue.setdefault(parsed[0], []).append(parsed[1])
        return by_queue

    async def return_orphans(self, candidates: dict[str, list[str]]) -> list[tuple[str, str]]:
        """Give back to pending the candidates that are active without a lease (orphans.lua);
        returns (queue, id) of those given back."""
        queues = [q for q, ids in candidates.items() if ids]
        calls: list[Call] = []
        for queue in queues:
            qk = self.keys.queue(queue)
            args = (qk.task_prefix, self.keys.wake_channel, queue, *candidates[queue])
            calls.append(("orphans", (qk.active, qk.pending), args))
        results = await self._call_many(calls) if calls else []
        return [(q, text(i)) for q, ids in zip(queues, results, strict=True) for i in ids]

    async def server_info(self) -> Mapping[Any, Any]:
        """INFO's default sections, memory and cluster among them, read by the start-up checks
        (common/preflight.py); on a cluster, every primary's, by node."""
        async with self.transport.guard():
            info: Mapping[Any, Any] = await self.redis.info(**every_primary(self.redis))
        return info

    async def probe_channel(self) -> None:
        """PUBLISH an empty wake-up (ignored by listeners): a user whose ACL lacks the channel
        fails here, at start, with RedisPermissionDenied, not later in every script."""
        try:
            async with self.transport.guard():
                await self.redis.publish(self.keys.wake_channel, b"")
        except RedisPermissionDenied as exc:
            raise RedisPermissionDenied(
                f"PUBLISH/SUBSCRIBE on channel {self.keys.wake_channel!r} refused: {exc}"
                f" (add &{self.keys.wake_channel} to the user's ACL)"
            ) from exc
