"""Issue 10, item 8: an idle step of the periodic components costs the same number of Redis
commands on 100 queues as on 2,000 (fewer on fewer), and a task scheduled on the 2,000th queue is still forwarded
at once (through the p:due index, not by waiting for its turn)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import ClassVar

from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.distributor import Distributor
from tandemq.inspector import Inspector
from tandemq.processor.forwarder import Forwarder
from tandemq.processor.janitor import Janitor
from tandemq.processor.pauses import Pauses
from tandemq.processor.recoverer import Recoverer


class Later(BaseModel):
    tandemq_type: ClassVar[str] = "tests.idle.later"


async def _commands(redis: Redis, step: Callable[[], Awaitable[object]]) -> int:
    before = int((await redis.info("stats"))["total_commands_processed"])
    await step()
    return int((await redis.info("stats"))["total_commands_processed"]) - before - 1  # our INFO


def _components(broker: Broker, queues: list[str]) -> list[Callable[[], Awaitable[object]]]:
    return [
        Forwarder(broker, queues).step,
        Recoverer(broker, queues, 1.0).step,
        Janitor(broker, queues, 100, 10_000, 1.0).step,
        Pauses(broker, broker.keys, queues).step,
    ]


async def test_an_idle_step_costs_the_same_on_100_and_2000_queues(
    broker: Broker, redis: Redis
) -> None:
    few = [f"few{i}" for i in range(100)]
    many = [f"many{i}" for i in range(2_000)]
    for small, large in zip(_components(broker, few), _components(broker, many), strict=True):
        await small(), await large()  # first steps out of the way
        # the fewest of three steps each: a stray command of another client cannot tip it
        large_cost = min([await _commands(redis, large) for _ in range(3)])
        small_cost = min([await _commands(redis, small) for _ in range(3)])
        assert large_cost <= small_cost + 2


async def test_a_task_scheduled_on_a_far_queue_is_forwarded_at_the_next_step(
    broker: Broker, redis: Redis, redis_url: str, prefix: str
) -> None:
    queues = [f"q{i}" for i in range(2_000)]
    forwarder = Forwarder(broker, queues)
    await forwarder.step()
    async with Distributor(redis_url=redis_url, prefix=prefix) as distributor:
        info = await distributor.send(
            Later(), queue=queues[-1], process_in=timedelta(milliseconds=1)
        )
    assert info.next_process_at is not None
    due = info.next_process_at.timestamp() + 0.002  # whole ms on both sides
    while time.time() < due:  # round trips until the due time has really passed (sub-ms)
        await redis.set(f"{prefix}:unused", 1)
    await forwarder.step()
    qk = broker.keys.queue(queues[-1])
    assert [v.decode() for v in await redis.lrange(qk.pending, 0, -1)] == [info.id]


async def test_a_queue_paused_among_2000_is_seen_at_the_next_step(
    broker: Broker, redis: Redis, prefix: str
) -> None:
    queues = [f"q{i}" for i in range(2_000)]
    pauses = Pauses(broker, broker.keys, queues)
    await broker.register_queues(queues)  # known queues, as a processor's start makes them
    await pauses.step()
    async with Inspector(redis=redis, prefix=prefix) as inspector:
        await inspector.pause(queues[-1])
        await pauses.step()
        assert pauses.paused == {queues[-1]}
        await inspector.unpause(queues[-1])
        await pauses.step()
        assert pauses.paused == set()
