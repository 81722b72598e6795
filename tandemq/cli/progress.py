"""A rich progress bar for bulk actions on a terminal; nothing off a terminal (scripts get
the final line only)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tandemq.inspector import Progress as OnProgress

from ._app import console


@contextlib.contextmanager
def progress_bar(description: str) -> Iterator[OnProgress]:
    """Yields an ``on_progress(done, total)`` callback that draws the bar."""
    out = console(stderr=True)
    if not out.is_terminal:
        yield lambda done, total: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=out, transient=False) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
