"""The outbox table, and ``Outbox.send``: a task written inside the caller's own transaction.

The row holds the task exactly as ``Distributor.send`` would write it to Redis (the same
option checks, encoding and send hooks: ``DistributorCore.build_task``); the relay (relay.py)
moves it to Redis later, with the row id as the task id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tandemq.common.errors import InvalidSendOptions
from tandemq.common.settings import Settings
from tandemq.common.task import NewTask
from tandemq.distributor.core import DistributorCore
from tandemq.distributor.hooks import SendHook
from tandemq.distributor.options import DEFAULT_MAX_RETRY, DEFAULT_QUEUE, SendOptions

DEFAULT_TABLE = "tandemq_outbox"
# NewTask fields kept in a row; unique_ttl_ms is refused (see send) and the nonce not needed.
_STORED = ("id", "queue", "type", "payload", "max_retry", "enqueued_ms", "due_ms",
           "timeout_ms", "deadline_ms", "retention_ms", "result_ttl_ms", "headers")  # fmt: skip


class Outbox:
    """Writes tasks into an outbox table with the caller's SQLAlchemy session or connection.

    ``table`` and ``schema`` name the table (``tandemq_outbox`` in the default schema);
    ``create_table`` makes it, or copy ``outbox.table`` into your own migrations. ``settings``
    (default: from the environment) give the payload size limit; ``send_hooks`` run on every
    send, as a Distributor's do.
    """

    def __init__(
        self,
        table: str = DEFAULT_TABLE,
        *,
        schema: str | None = None,
        settings: Settings | None = None,
        send_hooks: Sequence[SendHook] = (),
    ) -> None:
        self._core = DistributorCore(settings or Settings.load(), send_hooks)
        self.metadata = MetaData(schema=schema)
        self.table = Table(
            table,
            self.metadata,
            Column("id", String(256), primary_key=True),
            Column("queue", String(256), nullable=False),
            Column("type", String(512), nullable=False),
            Column("payload", LargeBinary, nullable=False),
            Column("max_retry", Integer, nullable=False),
            Column("enqueued_ms", BigInteger, nullable=False),
            Column("due_ms", BigInteger, nullable=False),
            Column("timeout_ms", BigInteger),
            Column("deadline_ms", BigInteger),
            Column("retention_ms", BigInteger),
            Column("result_ttl_ms", BigInteger),
            Column("headers", Text),
        )
        Index(f"{table}_enqueued_ms", self.table.c.enqueued_ms)

    async def create_table(self, conn: AsyncConnection) -> None:
        """Create the table (and its index) if missing."""
        await conn.run_sync(self.metadata.create_all)

    async def send(
        self,
        session: AsyncSession | AsyncConnection,
        payload: BaseModel,
        *,
        queue: str = DEFAULT_QUEUE,
        max_retry: int = DEFAULT_MAX_RETRY,
        process_in: timedelta | None = None,
        process_at: datetime | None = None,
        timeout: timedelta | None = None,
        deadline: datetime | None = None,
        task_id: str | None = None,
        retention: timedelta | None = None,
        unique_for: timedelta | None = None,
        result_ttl: timedelta | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Insert the task into the outbox in ``session``'s transaction; returns its task id.

        Nothing is committed here: the task reaches Redis only if the caller's transaction
        commits. Options mean what they mean for ``Distributor.send``; ``process_in`` counts
        from now, not from the relay's pick-up. Raises InvalidSendOptions or PayloadTooLarge
        before touching the database.
        """
        if unique_for is not None:
            raise InvalidSendOptions(
                "unique_for is not supported through the outbox: a duplicate would only be "
                "found by the relay, after your transaction committed; send it directly"
            )
        options = SendOptions(
            queue,
            max_retry,
            process_in,
            process_at,
            timeout,
            deadline,
            task_id,
            retention,
            result_ttl=result_ttl,
        )
        task = self._core.build_task(payload, options, headers)
        await session.execute(self.table.insert().values(row_of(task)))
        return task.id


def row_of(task: NewTask) -> dict[str, object]:
    """The outbox row that stores ``task``."""
    return {name: getattr(task, name) for name in _STORED}


def task_of(row: dict[str, object], now_ms: int) -> NewTask:
    """The task a row stores; one whose due time passed while it waited goes pending now."""
    values = {f.name: row[f.name] for f in fields(NewTask) if f.name in _STORED}
    task = NewTask(**values)  # type: ignore[arg-type]
    if task.due_ms and task.due_ms <= now_ms:
        task.due_ms = 0
    return task
