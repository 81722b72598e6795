"""Transactional outbox: send a task in the same database transaction as your own writes.

    outbox = Outbox()
    async with session.begin():
        session.add(User(...))
        await outbox.send(session, SendVerifyEmail(...), queue="critical")

A ``Relay`` (``python -m tandemq.outbox relay``, or ``relay.attach(processor)``) moves the
committed rows to Redis. Needs the ``outbox`` extra (SQLAlchemy 2 async, aiosqlite, asyncpg).
See docs/OUTBOX.md.
"""

from .relay import Relay, RelayStats, attach_from_env
from .store import DEFAULT_TABLE, Outbox

__all__ = ["DEFAULT_TABLE", "Outbox", "Relay", "RelayStats", "attach_from_env"]
