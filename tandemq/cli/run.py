"""``tandemq run TARGET [--workers N]``: the processor daemon (processor/__main__.py)."""

from __future__ import annotations

import click


@click.command()
@click.argument("target")
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Processes to run under a supervisor (default TANDEMQ_WORKERS, 1).",
)
def run(target: str, workers: int | None) -> int:
    """Run the Processor TARGET names (module:attribute, or a function returning one) until
    SIGTERM/SIGINT, then shut down gracefully. Exit 0 after a clean stop, 2 for a bad
    setting or target, 1 when the processor failed."""
    from tandemq.processor.__main__ import run_target  # noqa: PLC0415 - only this command needs it

    return run_target(target, workers)
