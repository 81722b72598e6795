"""Semantic 9: unique_for rejects a duplicate while the task lives; success frees the lock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from pydantic import BaseModel

from tandemq.distributor import Distributor, DuplicateTask
from tandemq.processor import TaskContext
from tests.conftest import ProcessorFactory
from tests.support import eventually


class Report(BaseModel):
    day: str


async def test_duplicate_rejected_until_the_task_succeeds(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    first = await distributor.send(Report(day="mon"), unique_for=timedelta(hours=1))
    with pytest.raises(DuplicateTask) as caught:
        await distributor.send(Report(day="mon"), unique_for=timedelta(hours=1))
    assert caught.value.holder == first.id
    ran = asyncio.Event()
    p = await make_processor()

    @p.handler(Report)
    async def report(task: Report, ctx: TaskContext) -> None:
        ran.set()

    async with p:
        await asyncio.wait_for(ran.wait(), 5)
        await eventually(lambda: distributor.get_task(first.id), lambda i: i is None)
    again = await distributor.send(Report(day="mon"), unique_for=timedelta(hours=1))
    assert again.id != first.id
