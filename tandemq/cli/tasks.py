"""``tandemq tasks ls|show|run|archive|delete|cancel``."""

from __future__ import annotations

import click
from rich.json import JSON

from tandemq.common.task import TaskState
from tandemq.inspector import Action, Inspector

from ._app import console, json_option, print_json, with_inspector
from .progress import progress_bar
from .render import task_panel, tasks_table

STATE = click.Choice([s.value for s in TaskState])


@click.group()
def tasks() -> None:
    """List, show, run, archive, delete or cancel tasks."""


@tasks.command("ls")
@click.argument("queue")
@click.argument("state", type=STATE, metavar="STATE")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0))
@json_option
def ls(queue: str, state: str, limit: int, offset: int, as_json: bool) -> None:
    """Tasks of QUEUE in STATE (pending, scheduled, active, retry, archived, completed):
    pending next-to-run first, scheduled and retry due first, archived and completed newest
    first."""
    page = with_inspector(lambda i: i.list_tasks(queue, state, limit=limit, offset=offset))
    if as_json:
        print_json([t.model_dump(mode="json") for t in page.tasks])
    else:
        console().print(tasks_table(page))


@tasks.command()
@click.argument("queue")
@click.argument("task_id")
@json_option
def show(queue: str, task_id: str, as_json: bool) -> None:
    """One task in full: payload, error with traceback, attempts, every timestamp."""
    task = with_inspector(lambda i: i.get_task(queue, task_id))
    if as_json:
        print_json(task.model_dump(mode="json"))
        return
    out = console()
    out.print(task_panel(task))
    out.print("[bold]payload[/bold]")
    out.print(JSON.from_data(task.payload, ensure_ascii=False))
    if task.result is not None:
        out.print("[bold]result[/bold]")
        out.print(JSON.from_data(task.result, ensure_ascii=False))
    if task.last_error:
        out.print("[bold]last error[/bold]")
        out.print(task.last_error, style="red", markup=False, highlight=False)


def _action_command(action: Action, doc: str) -> click.Command:
    @click.command(name=action.value, help=doc)
    @click.argument("queue")
    @click.argument("task_id", required=False)
    @click.option("--all", "state", type=STATE, help="Every task of this state instead of one.")
    @click.option("--chunk", default=1000, show_default=True, type=click.IntRange(1, 10_000),
                  help="Tasks per Redis script call with --all.")  # fmt: skip
    def command(queue: str, task_id: str | None, state: str | None, chunk: int) -> None:
        if (task_id is None) == (state is None):
            raise click.UsageError("give either TASK_ID or --all STATE")
        if task_id is not None:
            was = with_inspector(lambda i: i.task_action(queue, task_id, action))
            click.echo(f"{_past(action)} task {task_id} (was {was})")
            return
        assert state is not None

        async def work(inspector: Inspector) -> int:
            with progress_bar(f"{action} {state} tasks of {queue}") as on_progress:
                result = await inspector.bulk_action(
                    queue, state, action, chunk=chunk, on_progress=on_progress
                )
            return result.done

        done = with_inspector(work)
        click.echo(f"{_past(action)} {done} {state} tasks of {queue}")

    return command


def _past(action: Action) -> str:
    return {Action.RUN: "ran", Action.ARCHIVE: "archived", Action.DELETE: "deleted"}[action]


tasks.add_command(
    _action_command(
        Action.RUN, "Run TASK_ID (or --all STATE) now: scheduled, retry or archived -> pending."
    )
)
tasks.add_command(
    _action_command(
        Action.ARCHIVE, "Archive TASK_ID (or --all STATE): pending, scheduled or retry."
    )
)
tasks.add_command(
    _action_command(Action.DELETE, "Delete TASK_ID (or --all STATE): any state but active.")
)


@tasks.command()
@click.argument("queue")
@click.argument("task_id")
def cancel(queue: str, task_id: str) -> None:
    """Cancel TASK_ID: a pending, scheduled or retry task is canceled at once; a running one
    is stopped by its processor (not retried); an ended one is left as it is. Exit 1 if the
    task is not found."""
    outcome = with_inspector(lambda i: i.cancel_task(queue, task_id))
    said = {
        "canceled": f"canceled task {task_id}",
        "canceling": f"canceling task {task_id}: its processor stops it and records it canceled",
        "finished": f"task {task_id} had already finished; nothing to cancel",
    }
    click.echo(said[outcome])
