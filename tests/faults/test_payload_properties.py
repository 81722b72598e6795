"""Property tests of the payload path: random pydantic models survive send -> Redis -> the
processor's decode unchanged, and over-limit payloads are refused with nothing written."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, create_model

from tandemq.common.broker import Broker
from tandemq.common.keys import Keys
from tandemq.common.settings import Settings
from tandemq.distributor import Distributor, PayloadTooLarge
from tandemq.processor.handlers import Handlers

_TYPES: dict[str, tuple[Any, st.SearchStrategy[Any]]] = {
    "int": (int, st.integers(min_value=-(2**53), max_value=2**53)),
    "float": (float, st.floats(allow_nan=False, allow_infinity=False)),
    "str": (str, st.text(max_size=50)),
    "bool": (bool, st.booleans()),
    "list": (list[int], st.lists(st.integers(min_value=-1000, max_value=1000), max_size=10)),
    "dict": (
        dict[str, str],
        st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=5),
    ),
    "optional": (int | None, st.none() | st.integers(min_value=0, max_value=10)),
}


@st.composite
def models(draw: st.DrawFn) -> BaseModel:
    kinds = draw(st.lists(st.sampled_from(sorted(_TYPES)), min_size=1, max_size=6))
    fields = {f"f{i}_{kind}": (_TYPES[kind][0], ...) for i, kind in enumerate(kinds)}
    model = create_model(f"Random{uuid.uuid4().hex[:8]}", **fields)  # type: ignore[call-overload]
    values = {name: draw(_TYPES[name.split("_", 1)[1]][1]) for name in fields}
    instance: BaseModel = model(**values)
    return instance


async def _round_trip(redis_url: str, payload: BaseModel, limit: int) -> None:
    prefix = f"prop-{uuid.uuid4().hex[:8]}"
    settings_ = Settings.load(
        env=False, redis_url=redis_url, prefix=prefix, max_payload_bytes=limit
    )
    async with Distributor(settings=settings_) as distributor:
        try:
            encoded = payload.model_dump_json().encode()
            try:
                info = await distributor.send(payload)
            except PayloadTooLarge:
                assert len(encoded) > limit
                assert await distributor.redis.exists(Keys(prefix).queue("default").pending) == 0
                return
            assert len(encoded) <= limit
            stored = await distributor.get_task(info.id)
            assert stored is not None
            assert stored.payload == payload.model_dump(mode="json")
            # The processor's path: lease it (dequeue.lua joins a payload stored in pieces).
            broker = Broker(distributor.redis, Keys(prefix))
            taken, _ = await broker.dequeue({"default": 1}, "prop-test", 30_000)
            raw = taken["default"][0].payload
            handlers = Handlers()

            async def noop(p: BaseModel, ctx: object) -> None:
                return None

            handlers.register(type(payload), noop)
            assert handlers.resolve(info.type).decode(raw) == payload
        finally:
            keys = [k async for k in distributor.redis.scan_iter(match=f"{prefix}:*")]
            if keys:
                await distributor.redis.delete(*keys)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=models(), limit=st.integers(min_value=10, max_value=400))
def test_random_models_round_trip_or_are_refused_whole(
    redis_url: str, payload: BaseModel, limit: int
) -> None:
    asyncio.run(_round_trip(redis_url, payload, limit))
