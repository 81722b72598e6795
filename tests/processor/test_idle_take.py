"""An idle processor parks a blocking take on each of its queues (processor/idle.py) and runs
what they bring; shutdown unblocks them and leaves no taking list or takers entry behind;
where a take would bypass a limit, or slots are short, it waits for wake-ups instead."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.keys import Keys
from tandemq.common.settings import Settings
from tandemq.distributor import Distributor
from tandemq.processor import Processor, TaskContext
from tests.conftest import ProcessorFactory
from tests.support import eventually

# Blocking takes run on the pipelining connection: none where TANDEMQ_WIRE=off.
pytestmark = pytest.mark.skipif(
    os.environ.get("TANDEMQ_WIRE", "on").lower() in ("off", "0", "false", "no"),
    reason="no pipelining connection (TANDEMQ_WIRE=off)",
)


class Ping(BaseModel):
    n: int


async def _takers(redis: Redis, keys: Keys, queues: list[str]) -> list[int]:
    return [await redis.zcard(keys.queue(q).takers) for q in queues]


async def test_idle_processor_takes_from_every_queue_and_cleans_up_at_shutdown(
    make_processor: ProcessorFactory, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    queues, keys = ["a", "b"], Keys(prefix)
    seen: list[tuple[str, int]] = []
    got = asyncio.Event()
    p = await make_processor(queues=dict.fromkeys(queues, 1), concurrency=4)

    @p.handler(Ping)
    async def ping(task: Ping, ctx: TaskContext) -> None:
        seen.append((ctx.queue, task.n))
        got.set()

    async with p:
        await eventually(lambda: _takers(redis, keys, queues), lambda n: n == [1, 1])
        for n, queue in enumerate(["b", "a", "b"]):
            got.clear()
            await distributor.send(Ping(n=n), queue=queue)
            await asyncio.wait_for(got.wait(), 10)
    assert seen == [("b", 0), ("a", 1), ("b", 2)]
    assert await _takers(redis, keys, queues) == [0, 0]
    assert [k async for k in redis.scan_iter(match=f"{prefix}:*:taking:*")] == []


async def test_fewer_free_slots_than_queues_waits_for_wake_ups(
    make_processor: ProcessorFactory, distributor: Distributor, redis: Redis, prefix: str
) -> None:
    queues, keys = ["a", "b"], Keys(prefix)
    got = asyncio.Event()
    p = await make_processor(queues=dict.fromkeys(queues, 1), concurrency=1)

    @p.handler(Ping)
    async def ping(task: Ping, ctx: TaskContext) -> None:
        got.set()

    async with p:
        await distributor.send(Ping(n=1), queue="b")
        await asyncio.wait_for(got.wait(), 10)
        assert await _takers(redis, keys, queues) == [0, 0]  # a take per queue: 2 > 1 slot


async def test_a_user_refused_blmove_still_gets_its_tasks(
    distributor: Distributor, redis: Redis, redis_url: str,
    prefix: str,
) -> None:  # fmt: skip
    user, password = f"notake-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    rules = ["on", f">{password}", f"~{prefix}:*", f"&{prefix}:wake", "+@all", "-blmove"]
    await redis.execute_command("ACL", "SETUSER", user, "reset", *rules)
    limited = f"redis://{user}:{password}@{redis_url.split('//', 1)[1]}"
    got: asyncio.Queue[int] = asyncio.Queue()
    p = Processor(settings=Settings.load(env=False, redis_url=limited, prefix=prefix))

    @p.handler(Ping)
    async def ping(task: Ping, ctx: TaskContext) -> None:
        await got.put(task.n)

    try:
        async with p:
            for n in range(3):  # the first idle wait is refused; wake-ups serve from then on
                await distributor.send(Ping(n=n))
                assert await asyncio.wait_for(got.get(), 10) == n
            parts = p._parts
            assert parts is not None and not parts.fetcher._idle.usable  # off, not retried
    finally:
        await redis.acl_deluser(user)
