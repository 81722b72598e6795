"""Semantic 1: weighted selection across busy queues, and strict priority."""

from __future__ import annotations

import asyncio
from collections import Counter

from pydantic import BaseModel

from tandemq.distributor import Distributor
from tandemq.processor import TaskContext
from tests.conftest import ProcessorFactory


class Pick(BaseModel):
    n: int


PICKS = 1000


async def _run_picks(
    make_processor: ProcessorFactory, distributor: Distributor, strict: bool, per_queue: int
) -> list[str]:
    weights = {"critical": 6, "default": 3, "low": 1}
    for queue in weights:
        await distributor.send_many([Pick(n=i) for i in range(per_queue)], queue=queue)
    order: list[str] = []
    enough = asyncio.Event()
    p = await make_processor(queues=weights, concurrency=1, strict_priority=strict)

    @p.handler(Pick)
    async def pick(task: Pick, ctx: TaskContext) -> None:
        order.append(ctx.queue)
        if len(order) >= PICKS:
            enough.set()

    async with p:
        await asyncio.wait_for(enough.wait(), 60)
    return order[:PICKS]


async def test_weighted_picks_follow_weights_while_all_queues_are_busy(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    # Every queue holds more than PICKS tasks, so all stay non-empty for the whole window.
    order = await _run_picks(make_processor, distributor, strict=False, per_queue=PICKS + 50)
    shares = {q: n / PICKS for q, n in Counter(order).items()}
    # 1,000 draws: 4 standard deviations are 6.2 points at p=0.6 and 3.8 at p=0.1.
    assert abs(shares["critical"] - 0.6) < 0.062, shares
    assert abs(shares["default"] - 0.3) < 0.058, shares
    assert abs(shares["low"] - 0.1) < 0.038, shares


async def test_low_weight_queue_is_not_starved(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    order = await _run_picks(make_processor, distributor, strict=False, per_queue=PICKS + 50)
    # With weight 1 of 10, a run of 200 picks without "low" has probability 0.9**200 < 1e-9.
    longest_gap = max(
        len(run) for run in "".join("L" if q == "low" else "x" for q in order).split("L")
    )
    assert longest_gap < 200


async def test_strict_priority_drains_queues_in_order(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    order = await _run_picks(make_processor, distributor, strict=True, per_queue=PICKS // 3 + 10)
    rank = {"critical": 0, "default": 1, "low": 2}
    ranks = [rank[q] for q in order]
    assert ranks == sorted(ranks)
    assert set(order) == {"critical", "default", "low"}
