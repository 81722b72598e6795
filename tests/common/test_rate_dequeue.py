"""dequeue.lua's rate limit (GCRA), through Broker.dequeue_limited, against real Redis."""

from __future__ import annotations

from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.ratelimit import RateLimit
from tandemq.distributor import Distributor
from tests.processor.test_limits import Slow


async def test_a_limited_dequeue_takes_the_burst_then_says_how_long_to_wait(
    broker: Broker, distributor: Distributor, redis: Redis
) -> None:
    await distributor.send_many([Slow(n=i) for i in range(10)], queue="emails")
    rates = {"emails": RateLimit(count=2, period_ms=1000, burst=2)}
    taken, _, waits = await broker.dequeue_limited({"emails": 10}, "w", 30_000, rates)
    assert len(taken["emails"]) == 2
    assert 0 < waits["emails"] <= 500  # one interval (500 ms) until the next task
    again, _, waits = await broker.dequeue_limited({"emails": 10}, "w", 30_000, rates)
    assert again["emails"] == [] and 0 < waits["emails"] <= 500
    assert await redis.llen(broker.keys.queue("emails").pending) == 8
    assert 0 < await redis.pttl(broker.keys.rate("emails")) <= 1001


async def test_an_empty_queue_spends_no_allowance(
    broker: Broker, distributor: Distributor, redis: Redis
) -> None:
    rates = {"emails": RateLimit(count=1, period_ms=60_000, burst=1)}
    taken, _, waits = await broker.dequeue_limited({"emails": 5}, "w", 30_000, rates)
    assert taken["emails"] == [] and waits == {}
    assert not await redis.exists(broker.keys.rate("emails"))
    await distributor.send(Slow(n=1), queue="emails")
    taken, _, _ = await broker.dequeue_limited({"emails": 5}, "w", 30_000, rates)
    assert len(taken["emails"]) == 1


async def test_an_unlimited_queue_has_no_rate_key(
    broker: Broker, distributor: Distributor, redis: Redis
) -> None:
    await distributor.send_many([Slow(n=i) for i in range(3)])
    taken, _ = await broker.dequeue({"default": 3}, "w", 30_000)
    assert len(taken["default"]) == 3
    assert not await redis.exists(broker.keys.rate("default"))
