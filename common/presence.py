"""What a live processor tells about itself with each heartbeat (processor/presence.py writes
it, the inspector reads it): one JSON string per processor with a TTL of a few heartbeats, so
a dead processor's record disappears on its own, and a ZSET of ids by last heartbeat."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

RUNNING_SHOWN = 200  # most running tasks one record lists (``busy`` still counts them all)
BEATS_TO_LIVE = 3  # a record outlives its last heartbeat by this many heartbeats


class RunningTask(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    queue: str
    type: str
    started_at: datetime


class ProcessorInfo(BaseModel):
    """A live processor, as its last heartbeat described it."""

    model_config = ConfigDict(frozen=True)

    id: str
    host: str
    pid: int
    version: str
    queues: dict[str, int]  # name -> weight, in the configured (strict priority) order
    strict_priority: bool
    concurrency: int
    busy: int  # slots in use: tasks fetched and not yet finished
    running: list[RunningTask]  # the first RUNNING_SHOWN of them, oldest first
    started_at: datetime
    last_heartbeat: datetime
    heartbeat_every: timedelta
