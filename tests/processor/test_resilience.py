"""The daemon keeps serving when a handler, a policy or Redis misbehaves in ways other than a
plain exception or a dropped connection."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.keys import Keys
from tandemq.common.task import TaskInfo
from tandemq.distributor import Distributor
from tandemq.processor import TaskContext
from tests.conftest import ProcessorFactory
from tests.support import eventually, logged


class Job(BaseModel):
    n: int


class SelfCancelling(BaseModel):
    n: int = 0


async def _info(distributor: Distributor, task_id: str, queue: str = "default") -> TaskInfo:
    info = await distributor.get_task(task_id, queue=queue)
    assert info is not None
    return info


async def test_a_handler_raising_cancelled_error_is_a_failure_not_a_dead_worker(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    """A handler that awaits something cancelled elsewhere gets CancelledError: that is its
    failure (archived here), and the worker goes on to the next task."""
    p = await make_processor(concurrency=1)
    done: list[int] = []

    @p.handler(SelfCancelling)
    async def cancelled(task: SelfCancelling, ctx: TaskContext) -> None:
        other = asyncio.get_running_loop().create_future()
        other.cancel()
        await other

    @p.handler(Job)
    async def job(task: Job, ctx: TaskContext) -> None:
        done.append(task.n)

    async with p:
        bad = await distributor.send(SelfCancelling(), max_retry=0)
        await distributor.send(Job(n=1))  # the only worker must still be there for this
        await eventually(lambda: asyncio.sleep(0, done), lambda d: d == [1])
        archived = await eventually(
            lambda: _info(distributor, bad.id), lambda i: i.state == "archived"
        )
    assert "CancelledError" in (archived.last_error or "")


async def test_a_retry_delay_returning_garbage_still_retries_the_task(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    def broken(retried: int, error: BaseException, task: TaskInfo) -> Any:
        return 5  # not a timedelta

    p = await make_processor(retry_delay=broken)
    done: list[int] = []

    @p.handler(Job)
    async def failing(task: Job, ctx: TaskContext) -> None:
        if task.n == 0:
            raise ValueError("boom")
        done.append(task.n)

    async with p:
        info = await distributor.send(Job(n=0), max_retry=3)
        retried = await eventually(
            lambda: _info(distributor, info.id), lambda i: i.state == "retry"
        )
        await distributor.send(Job(n=1))
        await eventually(lambda: asyncio.sleep(0, done), lambda d: d == [1])
    assert retried.retried == 1
    assert retried.next_process_at is not None  # the fallback delay, not a crash


async def test_the_fetcher_survives_a_command_redis_refuses(
    make_processor: ProcessorFactory,
    distributor: Distributor,
    redis: Redis,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A queue key of the wrong type makes the dequeue script fail with WRONGTYPE (as
    READONLY would after a failover): the fetcher logs, backs off and fetches again once the
    key is fixed, instead of dying and leaving a daemon that serves nothing."""
    pending = Keys(prefix).queue("default").pending
    await redis.set(pending, "not a list")
    p = await make_processor(queues={"default": 1})
    done: list[int] = []

    @p.handler(Job)
    async def job(task: Job, ctx: TaskContext) -> None:
        done.append(task.n)

    caplog.set_level(logging.INFO, logger="tandemq")
    async with p:
        await eventually(  # the fetcher hit the bad key, and was told of it
            lambda: asyncio.sleep(0, logged(caplog, "fetch.failed")),
            lambda failures: len(failures) >= 2,
        )
        await redis.delete(pending)
        await distributor.send(Job(n=7))
        await eventually(lambda: asyncio.sleep(0, done), lambda d: d == [7], timeout=10)
    assert "WRONGTYPE" in logged(caplog, "fetch.failed")[0]["error"]
