"""``python -m tandemq.outbox relay``: run an outbox relay until SIGTERM/SIGINT.

Redis settings come from the environment as for the processor (REDIS_URL, TANDEMQ_PREFIX,
...); the database from ``--database-url`` or TANDEMQ_OUTBOX_DATABASE_URL. Exit codes: 0
after a clean stop, 2 for a bad setting.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence

from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import create_async_engine

from tandemq.common.errors import ConfigError
from tandemq.common.logging import configure, get_logger
from tandemq.common.settings import Settings

from .relay import DATABASE_URL_ENV, TABLE_ENV, Relay
from .store import DEFAULT_TABLE, Outbox


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tandemq.outbox", description=__doc__)
    commands = p.add_subparsers(dest="command", required=True)
    relay = commands.add_parser("relay", help="move committed outbox rows to Redis")
    relay.add_argument("--database-url", default=os.environ.get(DATABASE_URL_ENV))
    relay.add_argument("--table", default=os.environ.get(TABLE_ENV) or DEFAULT_TABLE)
    relay.add_argument("--schema", default=None)
    relay.add_argument("--batch-size", type=int, default=100)
    relay.add_argument("--poll-interval", type=float, default=0.2)
    relay.add_argument("--once", action="store_true", help="drain the outbox, then exit")
    return p


def make_relay(
    database_url: str | None,
    *,
    table: str = DEFAULT_TABLE,
    schema: str | None = None,
    batch_size: int = 100,
    poll_interval: float = 0.2,
    settings: Settings | None = None,
    relay_class: type[Relay] = Relay,
) -> Relay:
    """The relay these options describe; raises ConfigError (naming the setting) on a bad one.
    Redis settings from the environment unless ``settings`` are given."""
    if not database_url:
        raise ConfigError(f"no database: give --database-url or set {DATABASE_URL_ENV}")
    if batch_size < 1 or poll_interval <= 0:
        raise ConfigError("--batch-size must be >= 1 and --poll-interval > 0")
    try:
        engine = create_async_engine(database_url)
    except (ArgumentError, ImportError) as exc:
        # the message names the dialect, never the URL (it may hold a password)
        raise ConfigError(f"{DATABASE_URL_ENV} is not a usable async database URL: {exc}") from None
    return relay_class(
        engine,
        Outbox(table, schema=schema),
        settings=settings or Settings.load(),
        batch_size=batch_size,
        poll_interval=poll_interval,
        own_engine=True,
    )


async def serve(relay: Relay, once: bool = False) -> None:
    """Run ``relay`` until SIGTERM/SIGINT (or until the outbox is empty with ``once``)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log = get_logger("tandemq.outbox", component="outbox.relay")
    async with relay:
        log.info("outbox.relay_started", database=relay.engine.url.render_as_string(True))
        if once:
            await relay.drain()
        else:
            await relay.run(stop)
    log.info("outbox.relay_stopped", sent=relay.stats.sent, existed=relay.stats.existed)


def main(argv: Sequence[str] | None = None, relay_class: type[Relay] = Relay) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.load()
        configure(settings.log_format, settings.log_level)
        relay = make_relay(
            args.database_url,
            table=args.table,
            schema=args.schema,
            batch_size=args.batch_size,
            poll_interval=args.poll_interval,
            settings=settings,
            relay_class=relay_class,
        )
    except ConfigError as exc:
        print(f"tandemq outbox: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(relay, args.once))
    return 0


if __name__ == "__main__":
    sys.exit(main())
