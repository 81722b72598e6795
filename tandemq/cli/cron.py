"""``tandemq cron ls``: the periodic entries processors registered, with last and next run."""

from __future__ import annotations

from collections.abc import Sequence

import click
from rich.table import Table

from tandemq.inspector import CronEntryInfo, schedule_and_tz

from ._app import console, json_option, print_json, with_inspector
from .render import ago, stamp


@click.group()
def cron() -> None:
    """List periodic (cron and every) entries."""


@cron.command("ls")
@json_option
def ls(as_json: bool) -> None:
    """Every periodic entry a processor registered: its spec or interval, time zone, queue,
    task type, and its last and next run (none until it first ran)."""
    entries = with_inspector(lambda i: i.cron_entries())
    if as_json:
        print_json([e.model_dump(mode="json") for e in entries])
    else:
        console().print(cron_table(entries))


def cron_table(entries: Sequence[CronEntryInfo]) -> Table:
    table = Table(title="periodic entries", title_justify="left")
    for column in ("entry", "spec/interval", "tz", "queue", "type", "last run", "next run"):
        table.add_column(column, style="bold" if column == "entry" else None)
    for e in entries:
        spec, tz = schedule_and_tz(e)
        last = "-" if e.last_run is None else f"{stamp(e.last_run)} ({ago(e.last_run)})"
        following = "-" if e.next_run is None else f"{stamp(e.next_run)} ({ago(e.next_run)})"
        table.add_row(e.id, spec, tz, e.queue, e.type, last, following)
    if not entries:
        table.caption = "no periodic entries: none registered by a processor yet"
    return table
