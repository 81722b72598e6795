"""The running-handler registry: cancel the handler of one task (lost lease, user cancel)."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from pydantic import BaseModel

from tandemq.common.task import TaskState
from tandemq.distributor import Distributor
from tandemq.processor import TaskContext
from tests.conftest import ProcessorFactory
from tests.support import eventually


class Wait(BaseModel):
    tandemq_type: ClassVar[str] = "tests.running.wait"
    forever: bool


async def test_cancel_stops_that_handler_only_and_writes_no_outcome(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    started: dict[str, asyncio.Event] = {}
    cancelled: list[str] = []
    p = await make_processor(concurrency=1)

    @p.handler(Wait)
    async def wait(task: Wait, ctx: TaskContext) -> None:
        started.setdefault(ctx.id, asyncio.Event()).set()
        if task.forever:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(ctx.id)
                raise

    async with p:
        first = await distributor.send(Wait(forever=True))
        await eventually(lambda: _true(first.id in started), bool)
        assert [r["task_id"] for r in p.running.snapshot()] == [first.id]
        assert p.running.cancel("default", first.id, "asked by the test")
        assert not p.running.cancel("default", first.id, "twice")  # no longer running
        # The worker goes on with the next task (its one slot is free again).
        second = await distributor.send(Wait(forever=False))
        await eventually(lambda: distributor.get_task(second.id), lambda i: i is None)
        # No outcome for the cancelled one: still leased, left to whoever cancelled it.
        info = await distributor.get_task(first.id)
        assert info is not None and info.state == TaskState.ACTIVE
    assert cancelled == [first.id]


async def _true(value: bool) -> bool:
    return value
