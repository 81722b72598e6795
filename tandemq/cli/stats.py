"""``tandemq stats [--watch]``: queues, totals and processors; ``--watch`` redraws in place."""

from __future__ import annotations

import asyncio
import contextlib

import click
from rich.console import Group, RenderableType
from rich.live import Live

from tandemq.inspector import Inspector

from ._app import console
from .render import queues_table, totals_table


async def _snapshot(inspector: Inspector) -> RenderableType:
    stats = await inspector.queues()
    history = await inspector.history(minutes=60, days=1)
    processors = await inspector.processors()
    return Group(totals_table(stats, history, len(processors)), queues_table(stats))


@click.command()
@click.option("--watch", is_flag=True, help="Redraw in place until Ctrl-C.")
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="Seconds between redraws with --watch.")  # fmt: skip
def stats(watch: bool, interval: float) -> None:
    """Totals over every queue (sizes, processed and failed this minute, last hour, today),
    then each queue."""
    out = console()

    async def run() -> None:
        async with Inspector.from_env() as inspector:
            if not watch:
                out.print(await _snapshot(inspector))
                return
            with Live(await _snapshot(inspector), console=out, auto_refresh=False) as live:
                while True:
                    await asyncio.sleep(interval)
                    live.update(await _snapshot(inspector), refresh=True)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends --watch: a normal end
        asyncio.run(run())
