"""Processor apps run as real subprocesses by the tests (``python -m processor tests.apps:...``).

Handlers keep a ledger in Redis under the processor's prefix, so a test can count runs across
processes that were killed: ``<prefix>:ledger`` HASH task id -> completed runs,
``<prefix>:started`` HASH task id -> runs started, ``<prefix>:early`` HASH task id -> runs
that began before the task's ``not_before``. The ledger client uses ``LEDGER_REDIS_URL`` when
set (so a test can stall the processor's own connection and not the ledger's).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import ClassVar

from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.connection import create_redis
from tandemq.processor import Processor, SkipRetry, TaskContext


class Work(BaseModel):
    tandemq_type: ClassVar[str] = "tests.work"
    n: int
    sleep: float = 0.0
    not_before: float = 0.0  # epoch seconds; starting earlier is recorded in <prefix>:early


class Hostile(BaseModel):
    tandemq_type: ClassVar[str] = "tests.hostile"
    behaviour: str  # raise | skip | hang | block | exit
    seconds: float = 0.0


class SyncHang(BaseModel):
    tandemq_type: ClassVar[str] = "tests.sync_hang"
    seconds: float


def _key(suffix: str) -> str:
    return f"{os.environ['TANDEMQ_PREFIX']}:{suffix}"


class _Ledger:
    def __init__(self) -> None:
        self._client: Redis | None = None

    @property
    def client(self) -> Redis:
        if self._client is None:
            url = os.environ.get("LEDGER_REDIS_URL") or os.environ["REDIS_URL"]
            self._client = create_redis(url, retries=10)
        return self._client

    async def record(self, suffix: str, task_id: str) -> None:
        await self.client.hincrby(_key(suffix), task_id, 1)


def ledger() -> Processor:
    """Each task records its start, sleeps ``sleep`` seconds, then records its completion."""
    processor = Processor.from_env()
    book = _Ledger()

    @processor.handler(Work)
    async def work(task: Work, ctx: TaskContext) -> None:
        if task.not_before and time.time() < task.not_before:
            await book.record("early", ctx.id)
        await book.record("started", ctx.id)
        if task.sleep:
            await asyncio.sleep(task.sleep)
        await book.record("ledger", ctx.id)

    return processor


def hostile() -> Processor:
    """The ledger app plus a handler that misbehaves as its payload asks."""
    processor = ledger()

    @processor.handler(Hostile)
    async def misbehave(task: Hostile, ctx: TaskContext) -> None:
        if task.behaviour == "raise":
            raise ValueError("hostile handler raised")
        if task.behaviour == "skip":
            raise SkipRetry("hostile handler gave up")
        if task.behaviour == "hang":
            await asyncio.Event().wait()
        if task.behaviour == "block":
            time.sleep(task.seconds)  # noqa: ASYNC251 - blocks the event loop, on purpose
        if task.behaviour == "exit":
            sys.exit(7)

    @processor.handler(SyncHang)
    def hang_in_a_thread(task: SyncHang, ctx: TaskContext) -> None:
        time.sleep(task.seconds)  # a plain def: runs in the thread pool, cannot be cancelled

    return processor


# -- issue 10: lost leases, rolling deploys -------------------------------------------------


class BlockThenWait(BaseModel):
    tandemq_type: ClassVar[str] = "tests.block_then_wait"
    block: float  # seconds the handler blocks the event loop (time.sleep in async def)
    wait: float  # then seconds it awaits


class NewKind(BaseModel):
    """A type only the processors of a "new release" know (tests/faults/test_deploy.py)."""

    tandemq_type: ClassVar[str] = "tests.new_kind"
    n: int


def blocking() -> Processor:
    """The ledger app plus a handler that blocks its event loop, then awaits."""
    processor = ledger()
    book = _Ledger()

    @processor.handler(BlockThenWait)
    async def block_then_wait(task: BlockThenWait, ctx: TaskContext) -> None:
        await book.record("started", ctx.id)
        time.sleep(task.block)  # noqa: ASYNC251 - blocks the event loop, on purpose
        await asyncio.sleep(task.wait)
        await book.record("ledger", ctx.id)

    return processor


def new_release() -> Processor:
    """The ledger app plus a handler for NewKind, which ``ledger`` does not know."""
    processor = ledger()
    book = _Ledger()

    @processor.handler(NewKind)
    async def new_kind(task: NewKind, ctx: TaskContext) -> None:
        await book.record("started", ctx.id)
        await book.record("ledger", ctx.id)
        await book.record("ran_by", f"{ctx.id}:{os.getpid()}")

    return processor
