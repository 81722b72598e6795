"""The signup service's database: a users table, the tandemq outbox, and one engine.

DATABASE_URL picks the database (default: a SQLite file under .tandemq/); PostgreSQL works
the same with ``postgresql+asyncpg://...``.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tandemq.outbox import Outbox

DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///.tandemq/signup.db")


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    verification_emails: Mapped[int] = mapped_column(default=0)


outbox = Outbox()  # table tandemq_outbox


def make_engine(url: str = DATABASE_URL) -> AsyncEngine:
    options: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # the web app and the worker write the same file: wait for each other's locks
        options["connect_args"] = {"timeout": 30}
        os.makedirs(".tandemq", exist_ok=True)
    return create_async_engine(url, **options)


engine = make_engine()
Session = async_sessionmaker(engine, expire_on_commit=False)


async def create_tables() -> None:
    """The users table and the outbox table (in your app: your migrations)."""
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        await outbox.create_table(conn)
