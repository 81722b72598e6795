"""``tandemq processors``."""

from __future__ import annotations

import click

from ._app import console, json_option, print_json, with_inspector
from .render import processors_table


@click.command()
@json_option
def processors(as_json: bool) -> None:
    """Every live processor: host, pid, queues, busy slots, tasks running now, heartbeat."""
    found = with_inspector(lambda i: i.processors())
    if as_json:
        print_json([p.model_dump(mode="json") for p in found])
    else:
        console().print(processors_table(found))
