"""Trace a task from ``send`` to its handler with OpenTelemetry.

The distributor's send hook opens a PRODUCER span and injects its context into the task's
headers (W3C ``traceparent``); the processor's middleware extracts it from ``ctx.headers``
and runs the handler in a CONSUMER span that is the send span's child, in the same trace.
An exception leaves the middleware as raised (the span records it), so retries, SkipRetry
and RetryIn behave as without tracing.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind
from pydantic import BaseModel

from tandemq import TaskContext
from tandemq.distributor import Outgoing, SendHook
from tandemq.processor import CallNext, Middleware


def send_hook(tracer: trace.Tracer) -> SendHook:
    """For ``Distributor(send_hooks=[send_hook(tracer)])``."""

    def trace_send(outgoing: Outgoing) -> None:
        attributes = {"messaging.system": "tandemq", "messaging.destination.name": outgoing.queue}
        name = f"send {outgoing.type}"
        with tracer.start_as_current_span(name, kind=SpanKind.PRODUCER, attributes=attributes):
            propagate.inject(outgoing.headers)

    return trace_send


def middleware(tracer: trace.Tracer) -> Middleware[Any]:
    """For ``processor.middleware(middleware(tracer))``."""

    async def trace_task(payload: BaseModel, ctx: TaskContext[Any], call_next: CallNext) -> Any:
        parent = propagate.extract(ctx.headers)
        attributes: dict[str, str | int] = {
            "messaging.system": "tandemq",
            "messaging.destination.name": ctx.queue,
            "messaging.message.id": ctx.id,
            "tandemq.attempt": ctx.attempt,
        }
        name = f"process {ctx.type}"
        with tracer.start_as_current_span(
            name, context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        ):
            return await call_next()

    return trace_task
