"""Intake touches no key but the consumed list or stream and tandemq's own: proved by running
it as a Redis ACL user allowed only those keys (Redis refuses any other key, in scripts too)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import NoPermissionError

from tandemq.common.settings import Settings
from tandemq.processor import Processor, TaskContext


class Item(BaseModel):
    tandemq_type: ClassVar[str] = "tests.acl_item"
    text: str


@pytest.fixture
async def limited_url(redis: Redis, redis_url: str, prefix: str) -> AsyncIterator[str]:
    """A URL logging in as a user allowed only ``<prefix>:*``, ``acl-<prefix>-*`` keys and
    tandemq's wake channel."""
    user, password = f"intake-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    rules = ["on", f">{password}", f"~{prefix}:*", f"~acl-{prefix}-*", f"&{prefix}:wake"]
    await redis.acl_setuser(user, enabled=True, reset=True)
    await redis.execute_command("ACL", "SETUSER", user, *rules, "+@all")
    host_port = redis_url.split("//", 1)[1]
    try:
        yield f"redis://{user}:{password}@{host_port}"
    finally:
        await redis.acl_deluser(user)


async def test_the_limited_user_is_refused_other_keys(limited_url: str) -> None:
    client = Redis.from_url(limited_url)
    try:
        with pytest.raises(NoPermissionError):
            await client.get("some-other-key")
    finally:
        await client.aclose()


async def _run(limited_url: str, prefix: str, consume: str, key: str) -> Processor:
    settings = Settings.load(env=False, redis_url=limited_url, prefix=prefix)
    processor = Processor(settings=settings)
    seen: asyncio.Queue[str] = asyncio.Queue()

    @processor.handler(Item)
    async def handle(item: Item, ctx: TaskContext) -> None:
        await seen.put(item.text)

    if consume == "list":
        processor.consume_list(key, parse=lambda line: Item(text=line))
    else:
        processor.consume_stream(key, group="g", parse=lambda f: Item(text=f["text"]))
    processor.seen = seen  # type: ignore[attr-defined]
    await processor.start()
    return processor


async def test_list_intake_runs_with_access_to_its_list_and_own_keys_only(
    redis: Redis, limited_url: str, prefix: str
) -> None:
    key = f"acl-{prefix}-jobs"
    processor = await _run(limited_url, prefix, "list", key)
    try:
        await redis.lpush(key, "hello", "world")
        got = [await asyncio.wait_for(processor.seen.get(), 10) for _ in range(2)]  # type: ignore[attr-defined]
        assert got == ["hello", "world"]
    finally:
        await processor.shutdown()


async def test_stream_intake_runs_with_access_to_its_stream_and_own_keys_only(
    redis: Redis, limited_url: str, prefix: str
) -> None:
    key = f"acl-{prefix}-events"
    processor = await _run(limited_url, prefix, "stream", key)
    try:
        await redis.xadd(key, {"text": "hello"})
        assert await asyncio.wait_for(processor.seen.get(), 10) == "hello"  # type: ignore[attr-defined]
    finally:
        await processor.shutdown()
        await redis.delete(key)
