"""The registry of periodic entries in Redis, as listings (CLI, dashboard) read it.

Each processor records the entries it schedules in ``p:cron`` (entry id -> definition JSON)
when it starts; the tick state (last tick enqueued, the next one) lives beside the queue's
keys (``p:{q}:cron:<id>``), moved by the script that enqueues a tick. Read-only here.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

from .clock import from_ms
from .keys import Keys


class CronEntryInfo(BaseModel):
    """One periodic entry: what it sends, when, and when it last and next runs."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: Literal["cron", "every"]
    schedule: str  # the spec as written: "*/5 * * * *", "0 9 * * * (Europe/Riga)", "every 0:05:00"
    queue: str
    type: str
    missed: str
    payload: Any
    last_run: datetime | None = None
    next_run: datetime | None = None


def definition(
    entry_id: str,
    kind: str,
    schedule: str,
    queue: str,
    type_name: str,
    missed: str,
    payload: bytes,
) -> str:
    """The JSON recorded for an entry in ``p:cron``."""
    fields = {
        "id": entry_id,
        "kind": kind,
        "schedule": schedule,
        "queue": queue,
        "type": type_name,
        "missed": missed,
        "payload": json.loads(payload),
    }
    return json.dumps(fields, separators=(",", ":"))


async def list_cron_entries(redis: Redis, prefix: str = "tandemq") -> list[CronEntryInfo]:
    """Every entry any processor registered, with its last and next tick, sorted by id.

    ``next_run`` is the tick after the last one enqueued (None until the first run)."""
    keys = Keys(prefix)
    raw = await redis.hgetall(keys.cron_entries)
    entries = sorted((json.loads(v) for v in raw.values()), key=lambda e: str(e["id"]))
    pipe = redis.pipeline(transaction=False)
    for entry in entries:
        pipe.hmget(keys.cron_state(entry["queue"], entry["id"]), "last", "next")
    states = await pipe.execute() if entries else []
    out = []
    for entry, (last, following) in zip(entries, states, strict=True):
        out.append(
            CronEntryInfo(
                **entry,
                last_run=from_ms(int(last)) if last else None,
                next_run=from_ms(int(following)) if following else None,
            )
        )
    return out
