"""Processed and failed counts per queue, per minute and per UTC day, kept in Redis counters.

Processors add to them in one pipelined call a second (processor/counts.py); the inspector
reads them back as histories. A minute's counters live 2 hours (the last hour is shown), a
day's 32 days (the last 30 are shown): Redis drops old ones by their TTL, nothing sweeps.

``processed`` counts every finished attempt, succeeded or failed; ``failed`` counts the
attempts that failed (retried or archived), so ``processed - failed`` succeeded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis

from .keys import Keys

MINUTE_MS = 60_000
DAY_MS = 86_400_000
MINUTE_TTL_S = 2 * 3600
DAY_TTL_S = 32 * 86_400
KINDS = ("processed", "failed")


def minute_of(ms: int) -> int:
    return ms // MINUTE_MS


def day_of(ms: int) -> int:
    return ms // DAY_MS


async def add_counts(
    redis: Redis, keys: Keys, counts: Mapping[str, tuple[int, int]], now_ms: int
) -> None:
    """Add ``{queue: (processed, failed)}`` to the current minute's and day's counters."""
    pipe = redis.pipeline(transaction=False)
    minute, day = minute_of(now_ms), day_of(now_ms)
    for queue, pair in counts.items():
        qk = keys.queue(queue)
        for kind, n in zip(KINDS, pair, strict=True):
            if not n:
                continue
            for bucket, index, ttl in (("m", minute, MINUTE_TTL_S), ("d", day, DAY_TTL_S)):
                key = qk.count(kind, bucket, index)
                pipe.incrby(key, n)
                pipe.expire(key, ttl)
    if len(pipe):
        await pipe.execute()


def counter_keys(keys: Keys, queue: str, bucket: str, indexes: Sequence[int]) -> list[str]:
    """processed then failed counter keys of ``queue`` for each minute or day index."""
    qk = keys.queue(queue)
    return [qk.count(kind, bucket, i) for kind in KINDS for i in indexes]


def split_counts(values: Sequence[Any], n: int) -> tuple[list[int], list[int]]:
    """MGET results of counter_keys back into (processed per index, failed per index)."""
    numbers = [int(v) if v else 0 for v in values]
    return numbers[:n], numbers[n:]
