"""examples/otel: the handler's span is the child of the send span, through the task's
``traceparent`` header, checked with the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel
from redis.asyncio import Redis

from examples.otel.tracing import middleware, send_hook
from tandemq import Distributor, Processor, SkipRetry, TaskContext
from tandemq.common.settings import Settings
from tests.support import eventually, subprocess_env

ROOT = Path(__file__).resolve().parent.parent


class Traced(BaseModel):
    fail: bool = False


async def test_send_span_is_parent_of_handler_span(
    redis_url: str, prefix: str, redis: Redis
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    p = Processor(settings=Settings.load(env=False, redis_url=redis_url, prefix=prefix))
    p.middleware(middleware(tracer))

    @p.handler(Traced)
    async def handle(task: Traced, ctx: TaskContext) -> None:
        if task.fail:
            raise SkipRetry("no")

    async with p, Distributor(redis_url=redis_url, prefix=prefix) as d:
        d.add_send_hook(send_hook(tracer))
        await d.send(Traced())
        await d.send(Traced(fail=True))

        def spans() -> list[object]:
            return list(exporter.get_finished_spans())

        async def count() -> int:
            return len(spans())

        await eventually(count, lambda n: n == 4, timeout=10)
    finished = exporter.get_finished_spans()
    sends = [s for s in finished if s.kind == SpanKind.PRODUCER]
    handles = [s for s in finished if s.kind == SpanKind.CONSUMER]
    assert len(sends) == 2 and len(handles) == 2
    for send in sends:
        child = next(
            h for h in handles if h.parent is not None and h.parent.span_id == send.context.span_id
        )
        assert child.context.trace_id == send.context.trace_id
        assert child.name == "process tests.test_otel_example.Traced"
    failed = [h for h in handles if h.status.status_code == StatusCode.ERROR]
    assert len(failed) == 1  # the span recorded the SkipRetry, which still reached tandemq


def _spans(output: str) -> list[dict[str, Any]]:
    """The JSON span objects ConsoleSpanExporter printed, among the log lines."""
    decoder, spans, at = json.JSONDecoder(), [], output.find("{\n")
    while at >= 0:
        span, end = decoder.raw_decode(output, at)
        spans.append(span)
        at = output.find("{\n", end)
    return spans


def test_the_example_app_prints_linked_spans(redis_url: str, prefix: str, redis: Redis) -> None:
    env = subprocess_env(REDIS_URL=redis_url, TANDEMQ_PREFIX=prefix)
    run = subprocess.run(
        [sys.executable, "-m", "examples.otel.app"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    spans = {s["kind"]: s for s in _spans(run.stdout)}
    send, handle = spans["SpanKind.PRODUCER"], spans["SpanKind.CONSUMER"]
    assert handle["parent_id"] == send["context"]["span_id"]
    assert handle["context"]["trace_id"] == send["context"]["trace_id"]
