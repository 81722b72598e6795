"""The processor each host runs: every run of a task is written down with the host that ran
it (HOST_LABEL): ``<prefix>:host:started`` HASH id -> the first host that started it,
``<prefix>:host:done`` HASH id -> the host that finished it."""

from __future__ import annotations

import asyncio
import os
from typing import ClassVar

from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.processor import Processor, TaskContext


class Job(BaseModel):
    tandemq_type: ClassVar[str] = "tests.hosts.job"
    n: int
    sleep: float = 0.0


def app() -> Processor:
    processor = Processor.from_env()
    host = os.environ["HOST_LABEL"]
    prefix = processor.settings.prefix
    book: list[Redis] = []

    @processor.handler(Job)
    async def job(task: Job, ctx: TaskContext) -> None:
        if not book:
            book.append(processor.settings.redis_options().client())
        await book[0].hsetnx(f"{prefix}:host:started", ctx.id, host)  # the first to start
        if task.sleep:
            await asyncio.sleep(task.sleep)
        await book[0].hset(f"{prefix}:host:done", ctx.id, host)

    return processor
