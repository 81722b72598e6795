"""Task hashes that vanished under pending ids (an evicting Redis, a failover that lost writes,
a manual delete): logged loudly as ``tasks.vanished``, at most once per ``INTERVAL`` with the
count per queue since the last line, instead of one line per task."""

from __future__ import annotations

import time
from collections import Counter

from tandemq.common.logging import get_logger

INTERVAL = 60.0  # seconds between two tasks.vanished lines


class Vanished:
    def __init__(self, interval: float = INTERVAL) -> None:
        self._interval = interval
        self._counts: Counter[str] = Counter()
        self._sample: list[str] = []
        self._logged_at = -interval
        self._log = get_logger(__name__, component="fetcher")

    def add(self, missing: list[tuple[str, str]]) -> None:
        """Ids whose task hash was gone when they were dequeued (they are dropped)."""
        if not missing:
            return
        self._counts.update(queue for queue, _ in missing)
        self._sample = (self._sample + [task_id for _, task_id in missing])[:5]
        now = time.monotonic()
        if now - self._logged_at >= self._interval:
            self._log.error(
                "tasks.vanished",
                counts=dict(self._counts),
                sample=self._sample,
                detail="pending ids whose task data is gone: Redis evicted or lost keys"
                " (maxmemory-policy, a failover, a FLUSH?); see docs/RELIABILITY.md",
            )
            self._counts.clear()
            self._sample = []
            self._logged_at = now
