"""The client's connection pool (TANDEMQ_REDIS_POOL_SIZE): more SyncDistributor threads than
connections wait for a free one instead of failing, and a send that never got a connection,
sync or async, says it was not written (BrokerUnavailable), not OutcomeUnknown: nothing was
sent."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from redis import Redis

from tandemq import BrokerUnavailable, Distributor, SyncDistributor
from tandemq.common.keys import Keys
from tandemq.common.settings import Settings
from tests.apps import Work


@pytest.fixture
def single_redis(redis_url: str, cluster_nodes: str | None) -> Iterator[str]:
    if cluster_nodes:
        pytest.skip("a cluster client keeps a pool per node (redis-py's RedisCluster)")
    yield redis_url


def _pending(url: str, prefix: str) -> int:
    client = Redis.from_url(url)
    try:
        return int(client.llen(Keys(prefix).queue("default").pending))
    finally:
        client.close()


def _two_connections(url: str, prefix: str) -> Settings:
    """A pool of two connections, and a short wait for one (the connect timeout)."""
    return Settings.load(
        env=False,
        redis_url=url,
        prefix=prefix,
        redis_pool_size=2,
        redis_connect_timeout_seconds=0.2,
    )


def test_threads_beyond_the_pool_size_wait_for_a_connection(single_redis: str, prefix: str) -> None:
    settings = Settings.load(env=False, redis_url=single_redis, prefix=prefix, redis_pool_size=2)
    with SyncDistributor(settings=settings) as distributor:

        def sender(worker: int) -> int:
            for i in range(50):
                distributor.send(Work(n=i), task_id=f"w{worker}-{i}")
            return 50

        with ThreadPoolExecutor(8) as pool:  # 8 threads, 2 connections
            assert sum(pool.map(sender, range(8))) == 400
        assert distributor.redis.connection_pool.max_connections == 2  # type: ignore[attr-defined]
    assert _pending(single_redis, prefix) == 400


def test_a_send_that_gets_no_connection_was_not_sent(single_redis: str, prefix: str) -> None:
    settings = _two_connections(single_redis, prefix)
    with SyncDistributor(settings=settings) as distributor:
        pool = distributor.redis.connection_pool
        held = [pool.get_connection() for _ in range(2)]  # every connection busy
        with pytest.raises(BrokerUnavailable) as caught:
            distributor.send(Work(n=1))
        assert "TANDEMQ_REDIS_POOL_SIZE" in str(caught.value)
        assert _pending(single_redis, prefix) == 0
        for connection in held:
            pool.release(connection)
        distributor.send(Work(n=2))  # a connection came free: sends go on
    assert _pending(single_redis, prefix) == 1


async def test_an_async_send_that_gets_no_connection_was_not_sent(
    single_redis: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TANDEMQ_WIRE", "off")  # sends take pool connections (TLS's path)
    settings = _two_connections(single_redis, prefix)
    async with Distributor(settings=settings) as distributor:
        pool = distributor.redis.connection_pool
        held = [await pool.get_connection() for _ in range(2)]
        with pytest.raises(BrokerUnavailable) as caught:
            await distributor.send(Work(n=1))
        assert "TANDEMQ_REDIS_POOL_SIZE" in str(caught.value)
        assert _pending(single_redis, prefix) == 0
        for connection in held:
            await pool.release(connection)
        await distributor.send(Work(n=2))
    assert _pending(single_redis, prefix) == 1
