"""A traced send and handler, spans printed to the console: python -m examples.otel.app"""

from __future__ import annotations

import asyncio
import os

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from pydantic import BaseModel

from examples.devredis import dev_redis
from examples.otel.tracing import middleware, send_hook
from tandemq import Distributor, Processor, TaskContext


class Resize(BaseModel):
    image: str


async def run(url: str) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    tracer = provider.get_tracer("example")
    done = asyncio.Event()
    prefix = os.environ.get("TANDEMQ_PREFIX", "otel-example")
    processor = Processor(url, prefix=prefix)
    processor.middleware(middleware(tracer))

    @processor.handler(Resize)
    async def resize(task: Resize, ctx: TaskContext) -> None:
        ctx.logger.info("resizing", image=task.image)
        done.set()

    async with processor, Distributor(url, prefix=prefix) as d:
        d.add_send_hook(send_hook(tracer))
        await d.send(Resize(image="cat.png"))
        await asyncio.wait_for(done.wait(), 10)


if __name__ == "__main__":
    with dev_redis() as (redis_url, _):
        asyncio.run(run(redis_url))
