"""Registers periodic entries the way a processor does at start (Broker.register_cron with
the processor's own definition JSON) and writes their tick state, for listing tests."""

from __future__ import annotations

from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.cron_registry import definition
from tandemq.common.keys import Keys

LAST_MS = 1_767_000_000_000  # 2025-12-29T09:20:00Z
NEXT_MS = LAST_MS + 300_000


async def register_entries(broker: Broker, redis: Redis, prefix: str) -> None:
    """``report`` (cron, Europe/Riga, ran once) and ``sync`` (every 15 min, never ran)."""
    await broker.register_cron(
        {
            "report": definition(
                "report",
                "cron",
                "*/5 * * * * (Europe/Riga)",
                "low",
                "tests.report",
                "run_once",
                b'{"kind":"sales"}',
            ),
            "sync": definition(
                "sync", "every", "every 0:15:00", "default", "tests.sync", "skip", b"{}"
            ),
        }
    )
    state = Keys(prefix).cron_state("low", "report")
    await redis.hset(state, mapping={"last": LAST_MS, "next": NEXT_MS})
