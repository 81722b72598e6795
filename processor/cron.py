"""Periodic tasks: entries registered with ``processor.cron(...)`` / ``processor.every(...)``,
and the scheduler component every processor runs for them.

There is no leader. Every processor computes the same ticks (schedule.py) and tries to
enqueue each one; the script (cron_guard.lua in front of enqueue.lua) claims the tick and
writes its task in one atomic step, and refuses a tick claimed already. So each tick is
enqueued once whatever the number of processors, and clocks a second apart change only
which processor enqueues a tick. The entry's latest tick is kept too: a processor starting
after downtime resumes after it (the missed-tick policy decides what happens in between).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from tandemq.common.broker import Broker, NewTask
from tandemq.common.clock import now_ms, span_ms
from tandemq.common.cron_registry import definition
from tandemq.common.errors import ConfigError, InvalidSendOptions, TandemqError
from tandemq.common.logging import get_logger
from tandemq.common.registry import type_name
from tandemq.distributor.options import SendOptions

from .schedule import (
    DEFAULT_GRACE_MS,
    Cron,
    Interval,
    Missed,
    Schedule,
    check_missed,
    first_cursor,
    plan,
)

MAX_SLEEP = 5.0  # re-check at least this often (a wall clock that jumped)
_NOT_FOR_CRON = ("process_in", "process_at", "deadline", "task_id")


@dataclass(slots=True)
class CronEntry:
    """One periodic task: what to send, where, and on which schedule."""

    id: str
    kind: str  # "cron" or "every"
    schedule: Schedule
    type: str
    payload: bytes
    options: SendOptions
    missed: Missed
    cursor: int | None = field(default=None, repr=False)  # first tick not handled yet

    def definition(self) -> str:
        return definition(
            self.id,
            self.kind,
            self.schedule.describe(),
            self.options.queue,
            self.type,
            self.missed,
            self.payload,
        )

    def task(self, tick_ms: int, now: int) -> NewTask:
        """The task of one tick; its id names the entry and the tick."""
        o = self.options
        return NewTask(
            id=f"cron:{self.id}:{tick_ms}",
            queue=o.queue,
            type=self.type,
            payload=self.payload,
            max_retry=o.max_retry,
            enqueued_ms=now,
            timeout_ms=None if o.timeout is None else max(1, span_ms(o.timeout)),
            retention_ms=None if o.retention is None else max(1, span_ms(o.retention)),
            unique_ttl_ms=0 if o.unique_for is None else span_ms(o.unique_for),
        )


def make_entry(
    schedule: Schedule,
    kind: str,
    payload: BaseModel,
    missed: Missed,
    name: str | None,
    send_options: dict[str, Any],
) -> CronEntry:
    """Validate a registration; raises ConfigError for what a periodic task cannot take."""
    if not isinstance(payload, BaseModel):
        raise ConfigError(f"a periodic payload must be a pydantic model, got {type(payload)!r}")
    refused = [k for k in _NOT_FOR_CRON if k in send_options]
    if refused:
        raise ConfigError(f"periodic tasks do not take {', '.join(refused)}: each tick sets them")
    try:
        options = SendOptions(**send_options)
    except TypeError as exc:
        raise ConfigError(f"unknown send option for a periodic task: {exc}") from None
    except InvalidSendOptions as exc:
        raise ConfigError(f"periodic task: {exc}") from None
    type_ = type_name(type(payload))
    data = payload.__pydantic_serializer__.to_json(payload)
    if name is None:
        seed = "\0".join((kind, schedule.describe(), options.queue, type_)).encode() + data
        name = f"{type_}:{hashlib.sha256(seed).hexdigest()[:10]}"
    if not name or len(name) > 200 or any(c.isspace() for c in name):
        raise ConfigError(f"periodic entry name must be 1-200 characters, no spaces: {name!r}")
    return CronEntry(name, kind, schedule, type_, data, options, missed)


def cron_schedule(expr: str, tz: str) -> Schedule:
    return Cron(expr, tz)


def interval_schedule(every: timedelta, offset: timedelta) -> Schedule:
    return Interval(span_ms(every), span_ms(offset))


class CronMixin:
    """The Processor's registration methods for periodic tasks."""

    _cron: list[CronEntry]
    _parts: object | None  # set while the processor runs

    def cron(
        self,
        spec: str,
        payload: BaseModel,
        *,
        tz: str = "UTC",
        missed: Missed = "run_once",
        name: str | None = None,
        **send_options: Any,
    ) -> CronEntry:
        """Send ``payload`` on a cron schedule (5 fields, or 6 with seconds first) read in
        time zone ``tz``. Every processor may register the same entry: each tick is enqueued
        once. ``missed``: what a start after downtime does with the ticks nobody enqueued
        (``run_once``: one task for the latest, ``skip``: none). ``send_options`` as for
        ``Distributor.send`` (queue, max_retry, timeout, retention, unique_for). ``name``
        identifies the entry across processors and restarts (default: derived from the
        spec, queue and payload)."""
        schedule = cron_schedule(spec, tz)
        return self._add_cron(
            make_entry(schedule, "cron", payload, check_missed(missed), name, send_options)
        )

    def every(
        self,
        interval: timedelta,
        payload: BaseModel,
        *,
        offset: timedelta = timedelta(0),
        missed: Missed = "run_once",
        name: str | None = None,
        **send_options: Any,
    ) -> CronEntry:
        """Send ``payload`` every ``interval`` (at least 1 s), on ticks aligned to the epoch
        plus ``offset``; otherwise as ``cron``."""
        schedule = interval_schedule(interval, offset)
        return self._add_cron(
            make_entry(schedule, "every", payload, check_missed(missed), name, send_options)
        )

    def _add_cron(self, entry: CronEntry) -> CronEntry:
        if self._parts is not None:
            raise TandemqError("register periodic tasks before the processor starts")
        if any(e.id == entry.id for e in self._cron):
            raise ConfigError(f"a periodic entry named {entry.id!r} is already registered")
        self._cron.append(entry)
        return entry


class Scheduler:
    """Enqueues the due ticks of every entry; sleeps until the next one."""

    def __init__(
        self,
        broker: Broker,
        entries: list[CronEntry],
        clock: Callable[[], int] = now_ms,
        grace_ms: int = DEFAULT_GRACE_MS,
    ) -> None:
        self._broker = broker
        self._entries = entries
        self._clock = clock
        self._grace_ms = grace_ms
        self._ready = False
        self._log = get_logger(__name__, component="cron")

    async def _start(self) -> None:
        """Record the entries for listings and pick up where the last run left off."""
        await self._broker.register_cron({e.id: e.definition() for e in self._entries})
        lasts = await self._broker.cron_last([(e.options.queue, e.id) for e in self._entries])
        now = self._clock()
        for entry, last in zip(self._entries, lasts, strict=True):
            entry.cursor = first_cursor(entry.schedule, last, now)
        self._ready = True

    async def step(self) -> float:
        if not self._ready:
            await self._start()
        now = self._clock()
        for entry in self._entries:
            await self._step_entry(entry, now)
        earliest = min(e.cursor for e in self._entries if e.cursor is not None)
        return min(MAX_SLEEP, max(0.0, (earliest - self._clock()) / 1000))

    async def _step_entry(self, entry: CronEntry, now: int) -> None:
        assert entry.cursor is not None
        todo = plan(entry.schedule, entry.cursor, now, entry.missed, self._grace_ms)
        if todo.cursor > entry.cursor and not todo.fire:
            self._log.warning("cron.skipped", entry=entry.id, first=entry.cursor, until=todo.cursor)
        for tick in todo.fire:
            status, _ = await self._broker.enqueue_tick(
                entry.task(tick, now), entry.id, tick, entry.schedule.next_after(tick)
            )
            if status == "refused":  # another processor was first
                continue
            self._log.info(
                "cron.enqueued" if status in ("written", "existed") else "cron.duplicate",
                entry=entry.id,
                tick=tick,
                late_ms=now - tick,
                queue=entry.options.queue,
            )
        entry.cursor = max(entry.cursor, todo.cursor)
