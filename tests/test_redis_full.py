"""A Redis at its maxmemory limit (noeviction): send fails with a typed error, writes nothing."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from tandemq.common.envelope import entry_id
from tandemq.distributor import BrokerUnavailable, Distributor, RedisOutOfMemory
from tests.support import RedisServer


class Blob(BaseModel):
    data: str


async def test_send_to_a_full_redis_raises_and_accepted_sends_are_all_there() -> None:
    server = RedisServer(extra=("--maxmemory", "3mb", "--maxmemory-policy", "noeviction")).start()
    try:
        async with Distributor(redis_url=server.url, prefix="full") as d:
            accepted = 0
            with pytest.raises(RedisOutOfMemory, match="maxmemory") as raised:
                for _ in range(10_000):  # 10,000 x 10 kB is far past 3 MB
                    await d.send(Blob(data="x" * 10_000))
                    accepted += 1
            assert isinstance(raised.value, BrokerUnavailable)  # one family for callers
            assert accepted > 0
            assert await d.redis.llen("full:{default}:pending") == accepted
            ids = await d.redis.lrange("full:{default}:pending", 0, -1)
            # each whole: a task hash, or an envelope that get_task reads back
            infos = [await d.get_task(entry_id(e)) for e in ids]
            assert all(i is not None and i.payload == {"data": "x" * 10_000} for i in infos)
    finally:
        server.stop()
