"""Lifespan state, middleware and headers, on a real processor and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.keys import Keys
from tandemq.common.settings import Settings
from tandemq.distributor import Distributor, InvalidSendOptions, Outgoing
from tandemq.processor import CallNext, Processor, RetryIn, SkipRetry, TaskContext
from tests.support import eventually


class Job(BaseModel):
    behaviour: str = "ok"  # ok | fail | skip | retry_in


@dataclass
class AppState:
    pool: list[str]
    events: list[str] = field(default_factory=list)


def _processor(redis_url: str, prefix: str, **kw: Any) -> Processor[Any]:
    settings = Settings.load(env=False, redis_url=redis_url, prefix=prefix, concurrency=2)
    return Processor(settings=settings, **kw)


async def _state(d: Distributor, task_id: str) -> str | None:
    info = await d.get_task(task_id)
    return None if info is None else info.state


async def test_lifespan_state_is_made_once_and_closed_after_the_last_handler(
    redis_url: str, prefix: str, distributor: Distributor
) -> None:
    made: list[AppState] = []

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[AppState]:
        state = AppState(pool=["conn"])
        made.append(state)
        state.events.append("startup")
        yield state
        state.events.append("shutdown")

    p = _processor(redis_url, prefix, lifespan=lifespan)
    seen: list[AppState] = []
    release = asyncio.Event()

    @p.handler(Job)
    async def job(task: Job, ctx: TaskContext[AppState]) -> None:
        seen.append(ctx.state)
        await release.wait()
        ctx.state.events.append("handler done")

    async with p:
        assert p.state is made[0]
        infos = [await distributor.send(Job()) for _ in range(3)]
        await eventually(lambda: asyncio.sleep(0, len(seen)), lambda n: n >= 2)
        release.set()
        for info in infos:
            await eventually(lambda i=info: _state(distributor, i.id), lambda s: s is None)
    assert len(made) == 1
    assert all(s is made[0] for s in seen)
    assert made[0].events[0] == "startup" and made[0].events[-1] == "shutdown"
    assert made[0].events.count("handler done") == 3


async def test_lifespan_failure_fails_start_and_starts_nothing(redis_url: str, prefix: str) -> None:
    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        raise ConnectionRefusedError("database down")
        yield

    p = _processor(redis_url, prefix, lifespan=lifespan)
    with pytest.raises(ConnectionRefusedError):
        await p.start()
    await p.shutdown()  # nothing to stop


async def test_middleware_wraps_in_order_and_passes_results_and_headers(
    redis_url: str, prefix: str, distributor: Distributor
) -> None:
    p = _processor(redis_url, prefix)
    order: list[str] = []
    done = asyncio.Event()

    @p.middleware
    async def outer(payload: BaseModel, ctx: TaskContext, call_next: CallNext) -> Any:
        order.append(f"outer in {ctx.headers.get('tenant')}")
        result = await call_next()
        order.append(f"outer out {result}")
        done.set()
        return result

    @p.middleware
    async def inner(payload: BaseModel, ctx: TaskContext, call_next: CallNext) -> Any:
        order.append("inner in")
        return await call_next()

    @p.handler(Job)
    def job(task: Job, ctx: TaskContext) -> None:  # a sync handler is wrapped too
        order.append("handler")

    async with p:
        await distributor.send(Job(), headers={"tenant": "acme"})
        await asyncio.wait_for(done.wait(), 10)
    assert order == ["outer in acme", "inner in", "handler", "outer out None"]


@pytest.mark.parametrize(
    ("behaviour", "final"), [("fail", "retry"), ("skip", "archived"), ("retry_in", "retry")]
)
async def test_exceptions_pass_through_middleware_untouched(
    redis_url: str, prefix: str, distributor: Distributor, behaviour: str, final: str
) -> None:
    p = _processor(redis_url, prefix)
    seen: list[BaseException] = []

    @p.middleware
    async def watch(payload: BaseModel, ctx: TaskContext, call_next: CallNext) -> Any:
        try:
            return await call_next()
        except BaseException as exc:
            seen.append(exc)
            raise

    @p.handler(Job)
    async def job(task: Job, ctx: TaskContext) -> None:
        if task.behaviour == "fail":
            raise ValueError("boom")
        if task.behaviour == "skip":
            raise SkipRetry("never")
        raise RetryIn(timedelta(hours=1))

    async with p:
        info = await distributor.send(Job(behaviour=behaviour), max_retry=3)
        await eventually(lambda: _state(distributor, info.id), lambda s: s == final)
    task = await distributor.get_task(info.id)
    assert task is not None
    assert (
        type(seen[0]).__name__
        == {"fail": "ValueError", "skip": "SkipRetry", "retry_in": "RetryIn"}[behaviour]
    )
    if behaviour == "retry_in":  # the handler's own delay, not the default backoff
        assert task.next_process_at is not None and task.enqueued_at is not None
        assert task.next_process_at - task.enqueued_at > timedelta(minutes=59)
    if behaviour == "fail":
        assert "boom" in (task.last_error or "")


async def test_send_hooks_add_headers_for_send_and_send_many(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    calls: list[tuple[str, str]] = []

    def hook(outgoing: Outgoing) -> None:
        calls.append((outgoing.type, outgoing.queue))
        outgoing.headers["trace"] = "t-1"

    got: list[dict[str, str]] = []
    p = _processor(redis_url, prefix)

    @p.handler(Job)
    async def job(task: Job, ctx: TaskContext) -> None:
        got.append(dict(ctx.headers))

    async with Distributor(redis_url=redis_url, prefix=prefix, send_hooks=[hook]) as d, p:
        await d.send(Job(), headers={"tenant": "acme"})
        await d.send_many([Job(), Job()])
        await eventually(lambda: asyncio.sleep(0, len(got)), lambda n: n == 3)
    assert sorted(map(str, got)) == sorted(
        map(str, [{"tenant": "acme", "trace": "t-1"}, {"trace": "t-1"}, {"trace": "t-1"}])
    )
    assert len(calls) == 2  # once per send, once per send_many call


async def test_no_headers_store_nothing_and_long_ones_keep_the_hash_compact(
    distributor: Distributor, broker: Broker, redis: Redis, prefix: str
) -> None:
    # Leased first: a plain send waits as an envelope, its hash written by the lease.
    plain = await distributor.send(Job())
    traced = await distributor.send(
        Job(), headers={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}
    )
    taken, _ = await broker.dequeue({"default": 2}, "w1", 60_000)
    assert [m.id for m in taken["default"]] == [plain.id, traced.id]
    key = Keys(prefix).queue("default").task(plain.id)
    assert await redis.hexists(key, "t") and not await redis.hexists(key, "h")
    key = Keys(prefix).queue("default").task(traced.id)
    assert await redis.hexists(key, "h2")  # 74 bytes of JSON: two pieces
    assert await redis.object("encoding", key) == b"listpack"
    assert taken["default"][1].headers == {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}


async def test_bad_headers_are_refused_before_any_write(distributor: Distributor) -> None:
    with pytest.raises(InvalidSendOptions):
        await distributor.send(Job(), headers={"k": 1})  # type: ignore[dict-item]
    with pytest.raises(InvalidSendOptions):
        await distributor.send(Job(), headers={"k": "a\x1fb"})
