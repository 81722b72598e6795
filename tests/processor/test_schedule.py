"""Pure next-run logic of periodic tasks (processor/schedule.py): no Redis."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tandemq.common.errors import ConfigError
from tandemq.processor.schedule import Cron, Interval, first_cursor, plan

T0 = 1_700_000_000_000  # a whole second; also a multiple of 5 s and of 10 s


def ms(*args: int, tz: object = UTC) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp() * 1000)  # type: ignore[arg-type]


def test_cron_next_is_strictly_after_and_last_is_at_or_before() -> None:
    c = Cron("*/5 * * * * *")
    assert c.next_after(T0) == T0 + 5000
    assert c.next_after(T0 - 1) == T0
    assert c.last_at_or_before(T0) == T0
    assert c.last_at_or_before(T0 + 4999) == T0


def test_cron_five_fields_runs_on_minutes() -> None:
    c = Cron("*/5 * * * *")
    assert c.next_after(ms(2026, 3, 1, 10, 2)) == ms(2026, 3, 1, 10, 5)


def test_cron_reads_its_time_zone() -> None:
    riga = ZoneInfo("Europe/Riga")
    c = Cron("0 9 * * *", "Europe/Riga")
    assert c.next_after(ms(2026, 1, 10, 12, 0, tz=riga)) == ms(2026, 1, 11, 9, 0, tz=riga)
    # summer time: 9:00 in Riga is 6:00 UTC, not 7:00
    assert c.next_after(ms(2026, 7, 1, 0, 0)) == ms(2026, 7, 1, 6, 0)


def test_cron_dst_gap_is_not_run_twice() -> None:
    c = Cron("30 3 * * *", "Europe/Riga")  # 03:30 does not exist on 2026-03-29 in Riga
    first = c.next_after(ms(2026, 3, 28, 4, 0))
    second = c.next_after(first)
    assert second - first >= 23 * 3600 * 1000


def test_bad_cron_expression_and_zone_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="invalid cron expression"):
        Cron("61 * * * *")
    with pytest.raises(ConfigError, match="unknown time zone"):
        Cron("* * * * *", "Mars/Olympus")


def test_interval_ticks_align_on_the_epoch_plus_offset() -> None:
    i = Interval(10_000, 3000)
    assert i.next_after(T0) == T0 + 3000
    assert i.last_at_or_before(T0 + 3000) == T0 + 3000
    assert i.last_at_or_before(T0 + 2999) == T0 - 7000
    with pytest.raises(ConfigError):
        Interval(500)


def test_plan_waits_until_cursor() -> None:
    assert plan(Interval(1000), T0 + 1000, T0).fire == ()


def test_plan_fires_an_on_time_tick_once() -> None:
    p = plan(Interval(1000), T0, T0 + 20)
    assert p.fire == (T0,)
    assert p.cursor == T0 + 1000


@pytest.mark.parametrize("missed", ["run_once", "skip"])
def test_plan_after_downtime_never_bursts(missed: str) -> None:
    hour = 3_600_000
    now = T0 + 5 * hour + 600_000  # five hourly ticks missed, the last 10 minutes ago
    p = plan(Interval(hour, T0 % hour), T0 + hour, now, missed)  # type: ignore[arg-type]
    assert p.fire == ((T0 + 5 * hour,) if missed == "run_once" else ())
    assert p.cursor == T0 + 6 * hour


def test_plan_run_once_catches_up_and_keeps_the_current_tick() -> None:
    # a per-second spec reached 2.3 s late: ticks T0, T0+1s missed, T0+2s on time
    p = plan(Interval(1000), T0, T0 + 2300, "run_once")
    assert p.fire == (T0 + 1000, T0 + 2000)
    assert plan(Interval(1000), T0, T0 + 2300, "skip").fire == (T0 + 2000,)


def test_first_cursor_of_a_new_entry_is_the_next_tick() -> None:
    assert first_cursor(Interval(1000), None, T0 + 10) == T0 + 1000
    assert first_cursor(Interval(1000), T0 - 5000, T0 + 10) == T0 - 4000
