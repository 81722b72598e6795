"""Semantic 5: a handler past its timeout or deadline is cancelled and counts as a failure."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from tandemq.distributor import Distributor
from tandemq.processor import TaskContext
from tests.conftest import ProcessorFactory
from tests.support import eventually


class Slow(BaseModel):
    seconds: float


async def test_handler_past_timeout_is_cancelled_and_retried(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    cancelled = asyncio.Event()
    p = await make_processor()

    @p.handler(Slow)
    async def slow(task: Slow, ctx: TaskContext) -> None:
        try:
            await asyncio.sleep(task.seconds)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with p:
        info = await distributor.send(
            Slow(seconds=30), timeout=timedelta(milliseconds=200), max_retry=3
        )
        await asyncio.wait_for(cancelled.wait(), 5)
        retry = await eventually(
            lambda: distributor.get_task(info.id), lambda i: i is not None and i.state == "retry"
        )
    assert retry is not None
    assert retry.retried == 1
    assert "TaskTimeout" in (retry.last_error or "")


async def test_sync_handler_past_timeout_counts_as_failure(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    release = threading.Event()
    p = await make_processor()

    @p.handler(Slow)
    def slow(task: Slow, ctx: TaskContext) -> None:
        release.wait(task.seconds)  # a thread cannot be cancelled; it is left to finish

    try:
        async with p:
            info = await distributor.send(
                Slow(seconds=10), timeout=timedelta(milliseconds=200), max_retry=0
            )
            archived = await eventually(
                lambda: distributor.get_task(info.id),
                lambda i: i is not None and i.state == "archived",
            )
    finally:
        release.set()
    assert archived is not None
    assert "TaskTimeout" in (archived.last_error or "")


async def test_deadline_cancels_the_handler_and_archives(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    p = await make_processor()

    @p.handler(Slow)
    async def slow(task: Slow, ctx: TaskContext) -> None:
        await asyncio.sleep(task.seconds)

    async with p:
        deadline = datetime.now(UTC) + timedelta(milliseconds=300)
        info = await distributor.send(Slow(seconds=30), deadline=deadline, max_retry=5)
        archived = await eventually(
            lambda: distributor.get_task(info.id), lambda i: i is not None and i.state == "archived"
        )
    assert archived is not None
    assert archived.retried == 0  # no later attempt could meet a passed deadline
    assert "DeadlineExceeded" in (archived.last_error or "")


async def test_task_whose_deadline_passed_before_start_is_archived_unrun(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    ran = False
    p = await make_processor()

    @p.handler(Slow)
    async def slow(task: Slow, ctx: TaskContext) -> None:
        nonlocal ran
        ran = True

    deadline = datetime.now(UTC) + timedelta(milliseconds=1)
    info = await distributor.send(Slow(seconds=0), deadline=deadline)
    await asyncio.sleep(0.01)  # let the deadline pass before any processor exists
    async with p:
        archived = await eventually(
            lambda: distributor.get_task(info.id), lambda i: i is not None and i.state == "archived"
        )
    assert not ran
    assert archived is not None
    assert "DeadlineExceeded" in (archived.last_error or "")
