"""Semantic 8: bad input is archived with a clear error; the processor keeps serving."""

from __future__ import annotations

import asyncio
import sys
import uuid

from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.keys import Keys
from tandemq.common.task import Field
from tandemq.distributor import Distributor
from tandemq.processor import TaskContext
from tests.conftest import ProcessorFactory
from tests.support import eventually


class Good(BaseModel):
    n: int


class Unhandled(BaseModel):
    n: int


class Exiting(BaseModel):
    code: int


async def _archived_error(distributor: Distributor, task_id: str) -> str:
    info = await eventually(
        lambda: distributor.get_task(task_id), lambda i: i is not None and i.state == "archived"
    )
    assert info is not None
    return info.last_error or ""


async def _check_still_serving(distributor: Distributor, seen: list[int], n: int) -> None:
    await distributor.send(Good(n=n))
    await eventually(lambda: asyncio.sleep(0, seen), lambda s: n in s)


async def test_bad_input_is_archived_and_good_tasks_still_run(
    make_processor: ProcessorFactory, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    seen: list[int] = []
    # No grace for unknown types: archived at once (tests/faults/test_deploy.py has the wait)
    p = await make_processor(concurrency=2, unknown_type_grace_seconds=0)

    @p.handler(Good)
    async def good(task: Good, ctx: TaskContext) -> None:
        seen.append(task.n)

    @p.handler(Exiting)
    async def exiting(task: Exiting, ctx: TaskContext) -> None:
        sys.exit(task.code)

    queue = Keys(prefix).queue("default")
    async with p:
        unknown = await distributor.send(Unhandled(n=1), max_retry=5)
        assert "no handler for task type" in await _archived_error(distributor, unknown.id)

        invalid = await distributor.send(Good(n=1), max_retry=5)
        # Bad tasks written directly, the way a buggy producer or a manual edit would.
        for bad_id, fields in {
            "invalid": {
                Field.TYPE: Good.__module__ + ".Good",
                Field.PAYLOAD: '{"n": "not a number"}',
            },
            "corrupt-json": {Field.TYPE: Good.__module__ + ".Good", Field.PAYLOAD: "{not json"},
            "corrupt-fields": {
                Field.TYPE: Good.__module__ + ".Good",
                Field.PAYLOAD: '{"n": 1}',
                Field.RETRIED: "abc",
            },
        }.items():
            await redis.hset(
                queue.task(bad_id), mapping={Field.STATE: "pending", Field.MAX_RETRY: "5", **fields}
            )
            await redis.lpush(queue.pending, bad_id)
        assert "InvalidPayload" in await _archived_error(distributor, "invalid")
        assert "not valid JSON" in await _archived_error(distributor, "corrupt-json")
        assert "unreadable task fields" in await _archived_error(distributor, "corrupt-fields")

        missing = uuid.uuid4().hex  # an id whose hash is gone: skipped, nothing else harmed
        await redis.lpush(queue.pending, missing)
        await eventually(lambda: redis.llen(queue.pending), lambda n: n == 0)
        assert await redis.zscore(queue.active, missing) is None

        exits = await distributor.send(Exiting(code=3), max_retry=0)
        assert "SystemExit: 3" in await _archived_error(distributor, exits.id)

        await _check_still_serving(distributor, seen, 42)
    assert invalid.id  # the valid send ran normally
    assert 1 in seen
