"""Shared by every peer module (stdlib only): argument parsing, the work item, completion and
latency tracking, and the one-line JSON result the runner reads."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from . import _resp

PAYLOAD = "x" * 64  # every task carries an int and this 64-byte string
CONCURRENT_SENDERS = 100
CONCURRENCY = 100  # one worker process runs up to this many tasks at once
SETTLE_SECONDS = 0.5  # lets an idle worker reach its waiting state before latency sends
LATENCY_GAP_SECONDS = 0.005
WAIT_TIMEOUT_SECONDS = 900.0
RESULT_MARKER = "BENCH_RESULT "
SCALE_BACKLOG = 1_000_000  # tandemq only: pending tasks behind the measured window
SCALE_SCHEDULED = 100_000  # tandemq only: tasks scheduled far ahead, never run here

Result = dict[str, float | None]
Measurement = Callable[[str, int], Result | Awaitable[Result]]


class Tracker:
    """Counts handler runs; in latency mode also records enqueue-to-start per task.

    The int in the payload is the send time in microseconds since the epoch when measuring
    latency, so every library carries the timestamp the same way.
    """

    def __init__(self) -> None:
        self.reset(0)

    def reset(self, target: int, *, latency: bool = False) -> None:
        self.left = target
        self.latency = latency
        self.samples_ms: list[float] = []
        self.done = asyncio.Event()

    def track(self, n: int) -> None:
        if self.latency:
            self.samples_ms.append(time.time() * 1000 - n / 1000)
        self.left -= 1
        if self.left == 0:
            self.done.set()

    async def wait(self, timeout: float = WAIT_TIMEOUT_SECONDS) -> None:
        async with asyncio.timeout(timeout):
            await self.done.wait()

    def percentiles(self) -> Result:
        cuts = statistics.quantiles(self.samples_ms, n=100, method="inclusive")
        return {"p50": statistics.median(self.samples_ms), "p99": cuts[98]}


# One per process, in this module: RQ's worker imports the peer module afresh by name, so a
# tracker kept there would not be the one the measurement waits on.
TRACKER = Tracker()


def now_us() -> int:
    return int(time.time() * 1_000_000)


def rate(count: int, started: float) -> Result:
    """Result of ``count`` operations since ``started`` (a perf_counter reading)."""
    return {"value": count / (time.perf_counter() - started)}


def shares(total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts`` near-equal counts."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


async def send_spaced(send: Callable[[int], Awaitable[Any]], count: int) -> None:
    """Send ``count`` tasks on a fixed 5 ms grid (absolute, so slow sends do not drift it)."""
    start = time.perf_counter()
    for i in range(count):
        await send(now_us())
        delay = start + (i + 1) * LATENCY_GAP_SECONDS - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)


def memory_delta(url: str, fill: Callable[[], Any], count: int) -> Result:
    """Bytes of Redis memory per task for ``count`` tasks left pending by ``fill()``."""
    before = _resp.used_memory(url)
    fill()
    return {"value": (_resp.used_memory(url) - before) / count}


async def amemory_delta(
    url: str,
    fill: Callable[[], Awaitable[Any]],
    count: int,
    close: Callable[[], Awaitable[Any]] | None = None,
) -> Result:
    """As memory_delta; ``close()`` (the filling client's connections) runs before the second
    reading: 100 concurrent senders' connections hold buffers in Redis that are no task's."""
    before = _resp.used_memory(url)
    await fill()
    if close is not None:
        await close()
    return {"value": (_resp.used_memory(url) - before) / count}


def _report(result: Result) -> None:
    """Print the result and exit at once: teardown is not measured, and some peers' shutdown
    swallows cancellation (taskiq's stream receiver) and would hang the run."""
    print(RESULT_MARKER + json.dumps(result), flush=True)
    os._exit(0)


async def _measure_async(func: Measurement, url: str, n: int) -> None:
    _report(await func(url, n))  # type: ignore[misc]


def _run_async(func: Measurement, url: str, n: int) -> None:
    try:
        import uvloop  # noqa: PLC0415 - optional: each asyncio peer venv installs it
    except ImportError:
        asyncio.run(_measure_async(func, url, n))
    else:
        uvloop.run(_measure_async(func, url, n))


def main(measurements: Mapping[str, Measurement]) -> None:
    """``python -m bench.peers.<lib> <measurement> --url URL --n N``: print one result line.

    A measurement the library has no API for prints ``{"value": null}`` (shown as "-").
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("measurement")
    parser.add_argument("--url", required=True)
    parser.add_argument("--n", type=int, required=True)
    args = parser.parse_args()
    # Every library's logging filtered to WARNING alike (per-task INFO lines would dominate
    # the measurement): the root logger's level, as an application sets it. tandemq's
    # module configures the same level (TANDEMQ_LOG_LEVEL) before calling this.
    logging.basicConfig(level=logging.WARNING)
    func = measurements.get(args.measurement)
    if func is None:
        _report({"value": None})
    elif inspect.iscoroutinefunction(func):
        _run_async(func, args.url, args.n)
    else:
        _report(func(args.url, args.n))  # type: ignore[arg-type]
