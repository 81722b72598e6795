"""Wall-clock time in epoch milliseconds: the unit of every score and time field in Redis.

Scripts never read Redis's own clock: "now" is passed in as an ARGV so all processors and the
tests agree on one source, and a test can pass a time of its choosing.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


def now_ms() -> int:
    return int(time.time() * 1000)


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"datetime must be timezone-aware, got naive {moment.isoformat()}")
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def span_ms(span: timedelta) -> int:
    """A timedelta in whole milliseconds, exactly (no float rounding: 1001 ms stays 1001)."""
    return span // timedelta(milliseconds=1)
