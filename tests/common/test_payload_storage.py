"""Payloads of 65..2048 bytes are stored in 64-byte pieces so the task hash stays a compact
listpack; every length and every character comes back whole through get_task and dequeue."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.keys import Keys
from tandemq.distributor import Distributor


class Text(BaseModel):
    s: str


# Lengths of the JSON '{"s":"..."}' around each boundary; "é" is 2 bytes, so pieces end
# inside a character.
# dequeue.lua reads up to three pieces with the other fields and the rest one by one: 184
# and 185 straddle that (192 bytes).
CASES = [("y", n) for n in (1, 56, 57, 58, 120, 121, 184, 185, 248, 2040, 2041, 5000)] + [
    ("é", 40),
    ("é", 700),
]


@pytest.mark.parametrize(("char", "count"), CASES)
async def test_payload_round_trips_whole_through_get_task_and_dequeue(
    distributor: Distributor, broker: Broker, redis: Redis, prefix: str, char: str, count: int
) -> None:
    payload = Text(s=char * count)
    info = await distributor.send(payload)
    stored = await distributor.get_task(info.id)
    assert stored is not None and stored.payload == {"s": char * count}
    taken, _ = await broker.dequeue({"default": 1}, "w1", 30_000)
    assert taken["default"][0].payload == payload.model_dump_json().encode()


async def _hash_written(
    distributor: Distributor, broker: Broker, payload: Text, own_id: bool
) -> str:
    """Send ``payload`` and return its task's id once its hash exists: written by the send
    (a caller's id) or by the lease of its envelope (a plain send, common/envelope.py)."""
    if own_id:
        return (await distributor.send(payload, task_id="mine")).id
    info = await distributor.send(payload)
    taken, _ = await broker.dequeue({"default": 1}, "w1", 30_000)
    assert [m.id for m in taken["default"]] == [info.id]
    return info.id


@pytest.mark.parametrize("own_id", [True, False], ids=["own-id", "leased-envelope"])
@pytest.mark.parametrize(("count", "compact"), [(50, True), (500, True), (3000, False)])
async def test_hash_stays_a_listpack_up_to_2kb(
    distributor: Distributor,
    broker: Broker,
    redis: Redis,
    prefix: str,
    count: int,
    compact: bool,
    own_id: bool,
) -> None:
    task_id = await _hash_written(distributor, broker, Text(s="y" * count), own_id)
    key = Keys(prefix).queue("default").task(task_id)
    encoding = await redis.object("encoding", key)
    assert encoding == (b"listpack" if compact else b"hashtable")
    if not compact:  # past 2 KB the payload is one field: no hundreds of pieces
        assert await redis.hlen(key) < 8


async def test_send_many_stores_pieces_the_same_way(
    distributor: Distributor, broker: Broker, redis: Redis, prefix: str
) -> None:
    """send_many's tasks wait as envelopes (whole payloads, read back by get_task); their
    leases write hashes in pieces like enqueue's."""
    infos = await distributor.send_many([Text(s="z" * n) for n in (10, 100, 1000)])
    for info, n in zip(infos, (10, 100, 1000), strict=True):
        stored = await distributor.get_task(info.id)
        assert stored is not None and stored.payload == {"s": "z" * n}
    taken, _ = await broker.dequeue({"default": 3}, "w1", 30_000)
    assert [m.id for m in taken["default"]] == [info.id for info in infos]
    for info, n in zip(infos, (10, 100, 1000), strict=True):
        key = Keys(prefix).queue("default").task(info.id)
        assert await redis.object("encoding", key) == b"listpack"
        stored = await distributor.get_task(info.id)
        assert stored is not None and stored.payload == {"s": "z" * n}
