"""The relay: moves outbox rows to Redis, with the row id as the task id, then deletes them.

One batch is one database transaction: claim rows (``FOR UPDATE SKIP LOCKED`` where the
database has it, so relays running at once take different rows), write them to Redis, delete
them, commit. A relay killed after the Redis write and before the commit leaves the rows in
place; the next relay writes them again, and the existing task ids make that a no-op.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from redis.asyncio import Redis
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tandemq.common.broker import Broker
from tandemq.common.clock import now_ms
from tandemq.common.errors import BrokerUnavailable
from tandemq.common.keys import Keys
from tandemq.common.logging import get_logger
from tandemq.common.settings import Settings
from tandemq.common.task import NewTask

from .store import DEFAULT_TABLE, Outbox, task_of

if TYPE_CHECKING:
    from tandemq.processor import Processor

DATABASE_URL_ENV = "TANDEMQ_OUTBOX_DATABASE_URL"
TABLE_ENV = "TANDEMQ_OUTBOX_TABLE"


@dataclass(slots=True)
class RelayStats:
    """What a relay did so far: tasks written, and tasks whose id already existed in Redis
    (a batch sent again after a crash, or by a second relay on a database without row locks)."""

    batches: int = 0
    sent: int = 0
    existed: int = 0


class Relay:
    """Moves rows of ``outbox`` in ``engine``'s database to the Redis of ``settings``.

    ``async with Relay(engine) as relay: await relay.run()``; or ``relay.attach(processor)``
    to run it inside a processor daemon. On SQLite run one relay per database (SQLite has no
    row locks; a second relay would only resend ids that already exist, harmlessly).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Outbox | None = None,
        *,
        settings: Settings | None = None,
        redis: Redis | None = None,
        batch_size: int = 100,
        poll_interval: float = 0.2,
        own_engine: bool = False,
    ) -> None:
        self.engine = engine
        self.outbox = outbox or Outbox()
        self.settings = settings or Settings.load()
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.stats = RelayStats()
        self._own_engine = own_engine
        self._own_redis = redis is None
        s = self.settings
        self.redis = redis or s.redis_options().client()  # TLS, ACL user, Sentinel
        self._broker = Broker(self.redis, Keys(s.prefix), timeout=s.redis_timeout_seconds)
        self._log = get_logger(__name__, component="outbox.relay")

    @classmethod
    def from_url(cls, database_url: str, **options: Any) -> Relay:
        """A relay that owns an engine for ``database_url`` (closed with the relay)."""
        return cls(create_async_engine(database_url), own_engine=True, **options)

    async def __aenter__(self) -> Self:
        await self._broker.load_scripts()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._broker.aclose()
        if self._own_redis:
            await self.redis.aclose()
        if self._own_engine:
            await self.engine.dispose()

    async def relay_once(self) -> int:
        """Move one batch (up to ``batch_size`` rows, oldest first); returns how many."""
        table = self.outbox.table
        claim = (
            select(table)
            .order_by(table.c.enqueued_ms)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)  # rendered by PostgreSQL; SQLite has no such lock
        )
        async with self.engine.begin() as conn:
            rows = (await conn.execute(claim)).mappings().all()
            if not rows:
                return 0
            now = now_ms()
            tasks = [task_of(dict(row), now) for row in rows]
            await self._send(tasks)
            await self._delete(conn, [t.id for t in tasks])
        return len(tasks)

    async def _send(self, tasks: list[NewTask]) -> None:
        existed = await self._broker.enqueue_many(tasks)
        self.stats.batches += 1
        self.stats.sent += len(tasks) - len(existed)
        self.stats.existed += len(existed)
        self._log.info("outbox.relayed", count=len(tasks), existed=len(existed))

    async def _delete(self, conn: AsyncConnection, ids: list[str]) -> None:
        table = self.outbox.table
        await conn.execute(delete(table).where(table.c.id.in_(ids)))

    async def drain(self) -> int:
        """Relay batches until the outbox is empty; returns the rows moved."""
        total = 0
        while moved := await self.relay_once():
            total += moved
        return total

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Relay until ``stop`` is set (or the task is cancelled). A full batch is followed
        at once by the next; an empty outbox is polled every ``poll_interval``. A database
        or Redis failure is logged and retried with backoff: the rows stay until they land."""
        stop = stop or asyncio.Event()
        backoff = 0.1
        while not stop.is_set():
            try:
                moved = await self.relay_once()
                backoff = 0.1
            except (SQLAlchemyError, BrokerUnavailable, OSError) as exc:
                self._log.error("outbox.relay_failed", error=str(exc), retry_in=backoff)
                moved, backoff = 0, min(backoff * 2, 5.0)
                await _wait(stop, backoff)
                continue
            if moved < self.batch_size:
                await _wait(stop, self.poll_interval)

    def attach(self, processor: Processor) -> None:
        """Run this relay inside ``processor``: started with it, stopped at its shutdown."""

        async def serve() -> None:
            async with self:
                await self.run()

        processor.add_component(serve)


def attach_from_env(processor: Processor) -> Relay | None:
    """Attach a relay to ``processor`` when TANDEMQ_OUTBOX_DATABASE_URL is set (table name
    from TANDEMQ_OUTBOX_TABLE); the relay uses the processor's Redis settings."""
    url = os.environ.get(DATABASE_URL_ENV)
    if not url:
        return None
    outbox = Outbox(os.environ.get(TABLE_ENV) or DEFAULT_TABLE)
    relay = Relay.from_url(url, outbox=outbox, settings=processor.settings)
    relay.attach(processor)
    return relay


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        pass
