"""One end-to-end pass over a topology: a Distributor sends (one by one and in bulk), a
Processor runs every task; returns the processor's and the distributor's transports' kinds."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from pydantic import BaseModel

from tandemq.common.settings import Settings
from tandemq.distributor import Distributor
from tandemq.processor import Processor, TaskContext


class Ping(BaseModel):
    n: int


async def round_trip(n: int = 50, **settings: Any) -> dict[str, bool]:
    """Send ``n`` tasks (half with send, half with send_many) and wait until all ran.
    Returns which sides used the pipelining connection (``wire``)."""
    settings.setdefault("prefix", f"topo-{uuid.uuid4().hex[:8]}")
    s = Settings.load(env=False, **settings)
    seen: set[int] = set()
    done = asyncio.Event()
    processor = Processor(settings=s)

    @processor.handler(Ping)
    async def ping(task: Ping, ctx: TaskContext) -> None:
        seen.add(task.n)
        if len(seen) == n:
            done.set()

    async with Distributor(settings=s) as distributor, processor:
        for i in range(n // 2):
            await distributor.send(Ping(n=i))
        await distributor.send_many([Ping(n=i) for i in range(n // 2, n)])
        await asyncio.wait_for(done.wait(), 30)
        parts = processor._parts
        assert parts is not None
        return {
            "distributor_wire": distributor._broker.transport._wire is not None,
            "processor_wire": parts.broker.transport._wire is not None,
            "wakeup_wire": parts.wake_listener._transport is not None,
        }
