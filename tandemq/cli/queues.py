"""``tandemq queues`` and ``tandemq queue pause|unpause|delete``."""

from __future__ import annotations

import click

from tandemq.inspector import Inspector, queues_payload

from ._app import console, json_option, print_json, with_inspector
from .progress import progress_bar
from .render import queues_table


@click.command()
@json_option
def queues(as_json: bool) -> None:
    """Every queue: tasks per state, paused, oldest pending age, today's counts."""
    stats = with_inspector(lambda i: i.queues())
    if as_json:
        print_json(queues_payload(stats))
    else:
        console().print(queues_table(stats))


@click.group()
def queue() -> None:
    """Pause, unpause or delete one queue."""


@queue.command()
@click.argument("name")
def pause(name: str) -> None:
    """Every processor skips QUEUE within a second (running tasks finish)."""
    with_inspector(lambda i: i.pause(name))
    click.echo(f"paused {name}")


@queue.command()
@click.argument("name")
def unpause(name: str) -> None:
    """Processors fetch from QUEUE again at once."""
    with_inspector(lambda i: i.unpause(name))
    click.echo(f"unpaused {name}")


@queue.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Also delete every task in it, running ones too.")
def delete(name: str, force: bool) -> None:
    """Delete QUEUE; refused (exit 1) while it holds tasks, unless --force."""

    async def work(inspector: Inspector) -> int:
        with progress_bar(f"deleting {name}") as on_progress:
            return await inspector.delete_queue(name, force=force, on_progress=on_progress)

    deleted = with_inspector(work)
    click.echo(f"deleted queue {name}" + (f" and its {deleted} tasks" if deleted else ""))
