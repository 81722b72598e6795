"""Per-queue limits as configured: ``TANDEMQ_RATE_LIMITS=emails=100/s,sms=20/m:5`` (a rate
across all processors, with an optional burst) and ``TANDEMQ_QUEUE_CONCURRENCY=emails=5``
(tasks of a queue one processor runs at once). Parsing only; dequeue.lua enforces rates."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .keys import validate_queue_name

_PERIODS_MS = {"s": 1000, "m": 60_000, "h": 3_600_000}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` tasks per ``period_ms``, of which up to ``burst`` back to back."""

    count: int
    period_ms: int
    burst: int

    @property
    def interval_ms(self) -> float:
        """Time between two tasks at the steady rate."""
        return self.period_ms / self.count

    @property
    def tolerance_ms(self) -> float:
        """How far ahead of the steady rate a burst may run (GCRA's tau)."""
        return (self.burst - 1) * self.interval_ms

    def __str__(self) -> str:
        unit = next(u for u, ms in _PERIODS_MS.items() if ms == self.period_ms)
        return f"{self.count}/{unit}:{self.burst}"


def _items(spec: str) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for item in spec.split(","):
        if not item.strip():
            continue
        name, sep, value = item.strip().partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"{item.strip()!r} must be queue=value")
        validate_queue_name(name)
        if name in dict(items):
            raise ValueError(f"queue {name!r} is listed twice")
        items.append((name, value.strip()))
    return items


def parse_rate_limit(text: str) -> RateLimit:
    """``"100/s"``, ``"600/m"``, ``"10/h"``, with ``":burst"`` optional (default: a tenth of
    the count, at least 1)."""
    rate, _, burst_text = text.partition(":")
    count_text, sep, unit = rate.partition("/")
    if not sep or unit.strip() not in _PERIODS_MS:
        raise ValueError(f"rate {text!r} must look like 100/s, 600/m or 10/h (optional :burst)")
    try:
        count = int(count_text)
        burst = int(burst_text) if burst_text else max(1, math.ceil(count / 10))
    except ValueError:
        raise ValueError(f"rate {text!r}: count and burst must be integers") from None
    if count < 1 or burst < 1:
        raise ValueError(f"rate {text!r}: count and burst must be at least 1")
    return RateLimit(count, _PERIODS_MS[unit.strip()], burst)


def parse_rate_limits(spec: str) -> dict[str, RateLimit]:
    """``"emails=100/s,sms=20/m:5"`` -> {queue: RateLimit}."""
    return {name: parse_rate_limit(value) for name, value in _items(spec)}


def parse_queue_concurrency(spec: str) -> dict[str, int]:
    """``"emails=5,reports=1"`` -> {queue: most tasks of it one processor runs at once}."""
    caps = {}
    for name, value in _items(spec):
        try:
            caps[name] = int(value)
        except ValueError:
            raise ValueError(
                f"concurrency of queue {name!r} must be an integer, got {value!r}"
            ) from None
        if caps[name] < 1:
            raise ValueError(f"concurrency of queue {name!r} must be at least 1")
    return caps
