"""``tandemq outbox relay``: move committed outbox rows to Redis (docs/OUTBOX.md).

The same relay as ``python -m tandemq.outbox relay``; needs the ``outbox`` extra.
"""

from __future__ import annotations

import asyncio

import click

from tandemq.common.errors import ConfigError
from tandemq.common.logging import configure
from tandemq.common.settings import Settings


@click.group()
def outbox() -> None:
    """The transactional outbox (pip install 'tandemq[outbox]')."""


@outbox.command()
@click.option(
    "--database-url",
    envvar="TANDEMQ_OUTBOX_DATABASE_URL",
    help="SQLAlchemy async URL of the database (default TANDEMQ_OUTBOX_DATABASE_URL).",
)
@click.option("--table", envvar="TANDEMQ_OUTBOX_TABLE", default="tandemq_outbox", show_default=True)
@click.option("--schema", default=None, help="The table's schema (PostgreSQL).")
@click.option("--batch-size", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--poll-interval", type=click.FloatRange(min=0, min_open=True), default=0.2)
@click.option("--once", is_flag=True, help="Drain the outbox, then exit.")
def relay(
    database_url: str | None,
    table: str,
    schema: str | None,
    batch_size: int,
    poll_interval: float,
    once: bool,
) -> int:
    """Relay committed outbox rows to Redis until SIGTERM/SIGINT. Redis settings come from
    the environment (REDIS_URL, TANDEMQ_PREFIX, ...)."""
    try:
        from tandemq.outbox.__main__ import make_relay, serve  # noqa: PLC0415 - needs the extra
    except ImportError as exc:
        raise ConfigError(f"tandemq outbox needs pip install 'tandemq[outbox]' ({exc})") from None
    settings = Settings.load()
    configure(settings.log_format, settings.log_level)
    worker = make_relay(
        database_url,
        table=table,
        schema=schema,
        batch_size=batch_size,
        poll_interval=poll_interval,
        settings=settings,
    )
    asyncio.run(serve(worker, once))
    return 0
