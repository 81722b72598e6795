"""Databases for the outbox tests: SQLite always (a file per test), and the PostgreSQL on
127.0.0.1:5432 when it answers (a schema of each test's own, dropped afterwards)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tandemq.outbox import Outbox

PG_HOST, PG_PORT, PG_DB = "127.0.0.1", 5432, "test"
_pg_user: list[str | None] = []  # probed once per session


async def _probe_pg() -> str | None:
    """The user PostgreSQL lets in (trust auth), or None when none answers."""
    import asyncpg  # noqa: PLC0415 - the outbox extra

    for user in ("postgres", "root"):
        try:
            conn = await asyncpg.connect(
                host=PG_HOST, port=PG_PORT, user=user, database=PG_DB, timeout=2
            )
        except (OSError, asyncpg.PostgresError, TimeoutError):
            continue
        await conn.close()
        return user
    return None


async def pg_user() -> str | None:
    if not _pg_user:
        _pg_user.append(await _probe_pg())
    return _pg_user[0]


@dataclass
class Database:
    kind: str  # "sqlite" | "postgresql"
    url: str
    engine: AsyncEngine
    outbox: Outbox
    schema: str | None = None

    def cli_args(self) -> list[str]:
        args = ["--database-url", self.url, "--table", self.outbox.table.name]
        return [*args, "--schema", self.schema] if self.schema else args


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An outbox table in SQLite, or in a fresh PostgreSQL schema (skipped without a server)."""
    table = f"outbox_{uuid.uuid4().hex[:8]}"
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
        engine = create_async_engine(url)
        database = Database("sqlite", url, engine, Outbox(table))
        async with engine.begin() as conn:
            await database.outbox.create_table(conn)
        yield database
        await engine.dispose()
        return
    user = await pg_user()
    if user is None:
        pytest.skip(f"no PostgreSQL answers on {PG_HOST}:{PG_PORT} (db {PG_DB!r}, trust auth)")
    url = f"postgresql+asyncpg://{user}@{PG_HOST}:{PG_PORT}/{PG_DB}"
    schema = f"tq_{uuid.uuid4().hex[:10]}"
    engine = create_async_engine(url)
    database = Database("postgresql", url, engine, Outbox(table, schema=schema), schema)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await database.outbox.create_table(conn)
    try:
        yield database
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


async def row_count(database: Database) -> int:
    async with database.engine.connect() as conn:
        return int(
            (
                await conn.execute(select(func.count()).select_from(database.outbox.table))
            ).scalar_one()
        )
