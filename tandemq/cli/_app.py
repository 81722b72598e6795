"""What every command shares: lazy loading of commands, the Inspector from the environment,
consoles that drop colour off a terminal or under NO_COLOR, JSON output, error lines."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from rich.console import Console

from tandemq.inspector import Inspector

T = TypeVar("T")


class LazyGroup(click.Group):
    """A group whose subcommands are imported when used (``name -> "module:attribute"``), so
    ``tandemq run`` does not load what ``tandemq stats`` needs, and the reverse."""

    def __init__(self, *args: Any, commands: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)


def console(stderr: bool = False) -> Console:
    """Colour only on a terminal and without NO_COLOR (rich checks both; said here too)."""
    plain = bool(os.environ.get("NO_COLOR"))
    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    # piped, a table is read by grep or a log, not squeezed into 80 columns
    width = None if tty or os.environ.get("COLUMNS") else 200
    return Console(file=stream, no_color=plain or not tty, highlight=False, width=width)


def failure(exc: BaseException, code: int) -> int:
    """Print ``tandemq: <what happened and what to do>`` on stderr; return ``code``."""
    click.echo(f"tandemq: {exc}", err=True)
    return code


def with_inspector(work: Callable[[Inspector], Awaitable[T]]) -> T:
    """Run ``work`` with an Inspector from the environment, on a fresh event loop."""

    async def session() -> T:
        async with Inspector.from_env() as inspector:
            return await work(inspector)

    return asyncio.run(session())


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
