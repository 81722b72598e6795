"""Round-trip batching on the sending side: concurrent sends share round trips, send_many
writes chunks in single script calls; neither changes what lands in Redis or which errors
each caller gets."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.wire import _Protocol
from tandemq.distributor import Distributor, TaskIdConflict


class Item(BaseModel):
    n: int


class Other(BaseModel):
    label: str


def count_round_trips(monkeypatch: pytest.MonkeyPatch, broker: Broker) -> list[int]:
    """Record the number of commands in each write the broker makes, through redis-py's
    pipeline or on its own pipelining connection (common/wire.py); Redis stays real."""
    sizes: list[int] = []
    real_pipeline = broker.transport._pipeline
    real_flush = _Protocol._flush

    async def pipeline(calls):  # type: ignore[no-untyped-def]
        sizes.append(len(calls))
        return await real_pipeline(calls)

    def flush(self):  # type: ignore[no-untyped-def]
        if self._outbox:  # every write leaves through _flush, at once or at the loop's turn
            sizes.append(len(self._outbox))
        real_flush(self)

    monkeypatch.setattr(broker.transport, "_pipeline", pipeline)
    monkeypatch.setattr(_Protocol, "_flush", flush)
    return sizes


@pytest.mark.wire  # the pipelining connection's own behaviour
async def test_concurrent_sends_share_round_trips_and_all_land(
    distributor: Distributor, redis: Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await distributor.send(Item(n=-1))  # registers the queue: not part of the burst
    sizes = count_round_trips(monkeypatch, distributor._broker)
    infos = await asyncio.gather(*(distributor.send(Item(n=i)) for i in range(200)))
    assert sum(sizes) == 200
    assert len(sizes) < 20, sizes  # 200 sends at once: a handful of round trips, not 200
    assert await redis.llen(f"{prefix}:{{default}}:pending") == 201
    for info in infos[::37]:
        stored = await distributor.get_task(info.id)
        assert stored is not None and stored.payload == info.payload


async def test_a_sequential_send_goes_out_alone_at_once(
    distributor: Distributor, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = count_round_trips(monkeypatch, distributor._broker)
    for i in range(5):
        await distributor.send(Item(n=i))
    assert sizes == [1, 1, 1, 1, 1]


async def test_an_error_in_a_shared_round_trip_reaches_only_its_sender(
    distributor: Distributor,
) -> None:
    await distributor.send(Item(n=0), task_id="taken")
    results = await asyncio.gather(
        *(distributor.send(Item(n=i)) for i in range(20)),
        distributor.send(Item(n=99), task_id="taken"),
        *(distributor.send(Item(n=i)) for i in range(20, 40)),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], TaskIdConflict)
    assert all(r is not None for r in results)


async def test_send_many_groups_by_type_and_options_and_keeps_each_task(
    distributor: Distributor, redis: Redis, prefix: str
) -> None:
    payloads: list[BaseModel] = [Item(n=i) if i % 3 else Other(label=f"l{i}") for i in range(2500)]
    infos = await distributor.send_many(payloads, queue="bulk", max_retry=4)
    assert len({i.id for i in infos}) == 2500
    assert await redis.llen(f"{prefix}:{{bulk}}:pending") == 2500
    for info, payload in list(zip(infos, payloads, strict=True))[::499]:
        stored = await distributor.get_task(info.id, queue="bulk")
        assert stored is not None
        assert (stored.type, stored.state, stored.max_retry) == (info.type, "pending", 4)
        assert stored.payload == payload.model_dump()


async def test_send_many_with_process_in_schedules_every_task(
    distributor: Distributor, redis: Redis, prefix: str
) -> None:
    infos = await distributor.send_many(
        [Item(n=i) for i in range(1500)], process_in=timedelta(hours=1)
    )
    assert await redis.zcard(f"{prefix}:{{default}}:scheduled") == 1500
    assert await redis.llen(f"{prefix}:{{default}}:pending") == 0
    stored = await distributor.get_task(infos[-1].id)
    assert stored is not None and stored.state == "scheduled"
    assert stored.next_process_at == infos[-1].next_process_at


@pytest.mark.wire  # the pipelining connection's own behaviour
async def test_send_many_writes_each_chunk_as_soon_as_it_is_built(
    distributor: Distributor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis runs chunk k while the client builds chunk k+1: so each chunk must leave when
    built, not wait for the loop's turn (which comes only once every chunk is built)."""
    await distributor.send(Item(n=-1))  # connects and registers the queue
    sizes = count_round_trips(monkeypatch, distributor._broker)
    await distributor.send_many([Item(n=i) for i in range(5000)])
    assert sizes == [1, 1, 1, 1, 1]  # five chunks of 1,000 tasks, one script call each
