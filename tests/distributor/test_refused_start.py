"""A Distributor that refuses to start (here: a Redis that may evict tasks) closes the
connections it opened: no __aexit__ / __exit__ follows a failed enter, so nothing else would."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis as SyncRedis

from tandemq.common.errors import ConfigError
from tandemq.distributor import Distributor, SyncDistributor
from tests.support import RedisServer, eventually


@pytest.fixture
def evicting() -> Iterator[RedisServer]:
    server = RedisServer(extra=("--maxmemory", "20mb", "--maxmemory-policy", "allkeys-lru"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _clients(url: str) -> int:
    with SyncRedis.from_url(url) as probe:  # counts itself
        return int(probe.info("clients")["connected_clients"]) - 1


async def test_a_refused_async_start_closes_its_connections(evicting: RedisServer) -> None:
    distributor = Distributor(redis_url=evicting.url, prefix="refused")
    with pytest.raises(ConfigError, match="allkeys-lru"):
        async with distributor:
            pass
    assert await eventually(lambda: _clients(evicting.url), lambda n: n == 0, timeout=10) == 0


async def test_a_refused_sync_start_closes_its_connections(evicting: RedisServer) -> None:
    distributor = SyncDistributor(redis_url=evicting.url, prefix="refused")
    with pytest.raises(ConfigError, match="allkeys-lru"), distributor:
        pass
    assert await eventually(lambda: _clients(evicting.url), lambda n: n == 0, timeout=10) == 0
