"""When periodic tasks are due: pure time logic, no Redis (the scheduler in cron.py uses it).

Times are epoch milliseconds, as everywhere in tandemq. A schedule answers two questions:
the first tick strictly after a moment, and the last tick at or before it. ``plan`` decides,
from the last tick handled and the time now, which ticks a scheduler enqueues:

- a tick reached within ``grace`` of its time is on time and enqueued;
- older ticks were missed (every processor was down, or Redis was away): with
  ``missed="run_once"`` the most recent missed tick is enqueued once, whatever the number
  missed; with ``missed="skip"`` they are dropped. Never one task per missed tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from tandemq.common.errors import ConfigError

Missed = Literal["run_once", "skip"]
MISSED_POLICIES: tuple[Missed, ...] = ("run_once", "skip")
DEFAULT_GRACE_MS = 1000  # how late a tick may be reached and still count as on time


class Schedule(Protocol):
    def next_after(self, ms: int) -> int:
        """The first tick strictly after ``ms``."""
        ...

    def last_at_or_before(self, ms: int) -> int | None:
        """The latest tick at or before ``ms``; None if there is none."""
        ...

    def describe(self) -> str:
        """The spec as a user wrote it, for listings."""
        ...


@dataclass(frozen=True, slots=True)
class Interval:
    """A tick every ``every_ms``, aligned on the epoch (plus ``offset_ms``), so every
    processor computes the same ticks without talking to the others."""

    every_ms: int
    offset_ms: int = 0

    def __post_init__(self) -> None:
        if self.every_ms < 1000:
            raise ConfigError(
                f"a periodic interval must be at least 1 second, got {self.every_ms} ms"
            )
        if not 0 <= self.offset_ms < self.every_ms:
            raise ConfigError(f"interval offset must be in [0, every), got {self.offset_ms} ms")

    def next_after(self, ms: int) -> int:
        k = (ms - self.offset_ms) // self.every_ms + 1
        return k * self.every_ms + self.offset_ms

    def last_at_or_before(self, ms: int) -> int | None:
        return (ms - self.offset_ms) // self.every_ms * self.every_ms + self.offset_ms

    def describe(self) -> str:
        return f"every {timedelta(milliseconds=self.every_ms)}"


class Cron:
    """A cron expression (5 fields, or 6 with seconds first) in a time zone, read by cronsim.

    Ticks are whole seconds; a daylight-saving change is handled by cronsim as cron does.
    """

    __slots__ = ("_sim", "_tz", "expr", "tz")

    def __init__(self, expr: str, tz: str = "UTC") -> None:
        self._sim = CronSim
        try:
            self._tz = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone {tz!r} for cron {expr!r}") from None
        try:
            CronSim(expr, datetime.now(self._tz))
        except CronSimError as exc:
            raise ConfigError(f"invalid cron expression {expr!r}: {exc}") from None
        self.expr, self.tz = expr, tz

    def _tick(self, ms: int, reverse: bool) -> int:
        start = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(self._tz)
        return int(next(self._sim(self.expr, start, reverse=reverse)).timestamp() * 1000)

    def next_after(self, ms: int) -> int:
        # cronsim starts strictly after its (whole-second) start
        return self._tick(ms - ms % 1000, reverse=False)

    def last_at_or_before(self, ms: int) -> int | None:
        # reverse iteration starts strictly before its start: begin one second later
        try:
            return self._tick(ms - ms % 1000 + 1000, reverse=True)
        except StopIteration:
            return None

    def describe(self) -> str:
        return self.expr if self.tz == "UTC" else f"{self.expr} ({self.tz})"


@dataclass(frozen=True, slots=True)
class Plan:
    """What a scheduler does now: enqueue ``fire`` (oldest first), then wait for ``cursor``,
    the first tick not yet handled."""

    fire: tuple[int, ...]
    cursor: int


def plan(
    schedule: Schedule,
    cursor: int,
    now: int,
    missed: Missed = "run_once",
    grace_ms: int = DEFAULT_GRACE_MS,
) -> Plan:
    """The ticks to enqueue at ``now``, given ``cursor``, the first tick not handled yet."""
    if cursor > now:
        return Plan((), cursor)
    latest = schedule.last_at_or_before(now)
    if latest is None or latest < cursor:  # cannot happen for a sane schedule; stay safe
        return Plan((), schedule.next_after(now))
    following = schedule.next_after(latest)
    on_time = now - latest <= grace_ms
    if latest == cursor:  # one tick due
        if on_time or missed == "run_once":
            return Plan((latest,), following)
        return Plan((), following)
    fire: list[int] = []
    if missed == "run_once":  # the most recent missed tick, once
        last_missed = latest if not on_time else schedule.last_at_or_before(latest - 1)
        if last_missed is not None and last_missed >= cursor:
            fire.append(last_missed)
    if on_time and latest not in fire:
        fire.append(latest)
    return Plan(tuple(fire), following)


def first_cursor(schedule: Schedule, last_run: int | None, now: int) -> int:
    """Where a scheduler starts: after the last tick any processor enqueued, or, for an entry
    never run, at the next tick (a new entry does not run for the past)."""
    if last_run is None:
        return schedule.next_after(now)
    return schedule.next_after(last_run)


def check_missed(value: str) -> Missed:
    if value not in MISSED_POLICIES:
        raise ConfigError(f"missed must be one of {MISSED_POLICIES}, got {value!r}")
    return value
