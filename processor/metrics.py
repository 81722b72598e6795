"""Prometheus metrics of one processor, served on ``/metrics`` when TANDEMQ_METRICS_PORT is set.

The hot path only bumps integers in plain dicts (everything runs on the processor's event
loop, so no lock is needed); the Prometheus families are built from them when a scrape comes.
Queue gauges (sizes per state, age of the oldest pending task) are read from Redis in the
background and cached, so a scrape never waits on Redis. See docs/METRICS.md.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

from tandemq.common.errors import ConfigError
from tandemq.common.logging import get_logger
from tandemq.common.task import TaskMessage

try:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ConfigError(
        "TANDEMQ_METRICS_PORT needs prometheus-client: pip install 'tandemq[metrics]'"
    ) from exc

# Seconds; from a no-op handler (~1 ms) to a long job (10 min).
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0, 600.0,
)  # fmt: skip
QUEUE_STATES = ("pending", "active", "scheduled", "retry", "archived", "completed")

Labels = tuple[str, str]  # (queue, type): bounded, never a task id


@dataclass(slots=True)
class _Histogram:
    """Per-bucket counts (not cumulative: one increment per observation) and their sum."""

    counts: list[int]
    total: float = 0.0


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """What the queue gauges show for one queue."""

    queue: str
    sizes: dict[str, int]  # state -> tasks
    oldest_pending_seconds: float


QueueSource = Callable[[], Awaitable[Sequence[QueueSnapshot]]]


class TaskMetrics:
    """Outcome counters and handler durations, recorded by Outcome as each attempt ends.

    ``processed`` counts every finished attempt, ``failed`` the attempts that raised (each one
    then counts as ``retried`` or ``archived``).
    """

    def __init__(self, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self.buckets = tuple(sorted(buckets))
        self.processed: defaultdict[Labels, int] = defaultdict(int)
        self.failed: defaultdict[Labels, int] = defaultdict(int)
        self.retried: defaultdict[Labels, int] = defaultdict(int)
        self.archived: defaultdict[Labels, int] = defaultdict(int)
        self.durations: dict[Labels, _Histogram] = {}

    def succeeded(self, task: TaskMessage, ms: float) -> None:
        labels = (task.queue, task.type)
        self.processed[labels] += 1
        self._observe(labels, ms)

    def was_retried(self, task: TaskMessage, ms: float) -> None:
        labels = (task.queue, task.type)
        self.processed[labels] += 1
        self.failed[labels] += 1
        self.retried[labels] += 1
        self._observe(labels, ms)

    def was_archived(self, task: TaskMessage, ms: float) -> None:
        labels = (task.queue, task.type)
        self.processed[labels] += 1
        self.failed[labels] += 1
        self.archived[labels] += 1
        self._observe(labels, ms)

    def _observe(self, labels: Labels, ms: float) -> None:
        hist = self.durations.get(labels)
        if hist is None:
            hist = self.durations[labels] = _Histogram([0] * (len(self.buckets) + 1))
        seconds = ms / 1000
        hist.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        hist.total += seconds


@dataclass
class QueueGauges:
    """Refreshes the queue gauges from ``source`` every ``interval`` seconds (in the
    background, so a scrape reads the cache); a failed read keeps the last values."""

    source: QueueSource
    interval: float = 10.0
    snapshot: Sequence[QueueSnapshot] = field(default_factory=list)

    async def step(self) -> float:
        self.snapshot = await self.source()
        return self.interval

    async def run(self) -> None:
        log = get_logger(component="metrics")
        while True:
            try:
                await self.step()
            except Exception as exc:  # Redis away: keep the last values, try again later
                log.warning("metrics.queue_gauges_failed", error=str(exc) or repr(exc))
            await asyncio.sleep(self.interval)


class MetricsCollector(Collector):
    """Builds the tandemq families at scrape time from the processor's own records."""

    def __init__(
        self,
        tasks: TaskMetrics,
        in_flight: Callable[[], int],
        queues: QueueGauges | None = None,
    ) -> None:
        self._tasks = tasks
        self._in_flight = in_flight
        self._queues = queues

    def collect(self) -> Iterator[Metric]:
        t = self._tasks
        yield _counter("tandemq_tasks_processed", "Finished attempts (ok or failed).", t.processed)
        yield _counter("tandemq_tasks_failed", "Attempts whose handler raised.", t.failed)
        yield _counter("tandemq_tasks_retried", "Failed attempts scheduled to retry.", t.retried)
        yield _counter("tandemq_tasks_archived", "Failed attempts archived.", t.archived)
        yield self._durations()
        yield GaugeMetricFamily(
            "tandemq_tasks_in_flight", "Tasks this processor holds now.", value=self._in_flight()
        )
        if self._queues is not None:
            yield from _queue_families(self._queues.snapshot)

    def _durations(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            "tandemq_task_duration_seconds",
            "Handler run time per attempt.",
            labels=("queue", "type"),
        )
        bounds = [*(_float_text(b) for b in self._tasks.buckets), "+Inf"]
        for labels, hist in list(self._tasks.durations.items()):
            cumulative, running = [], 0
            for bound, count in zip(bounds, hist.counts, strict=True):
                running += count
                cumulative.append((bound, float(running)))
            family.add_metric(list(labels), cumulative, hist.total)
        return family


def _counter(name: str, doc: str, values: dict[Labels, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=("queue", "type"))
    for labels, value in list(values.items()):
        family.add_metric(list(labels), value)
    return family


def _queue_families(snapshot: Sequence[QueueSnapshot]) -> Iterator[Metric]:
    sizes = GaugeMetricFamily(
        "tandemq_queue_tasks", "Tasks in the queue per state.", labels=("queue", "state")
    )
    oldest = GaugeMetricFamily(
        "tandemq_queue_oldest_pending_seconds",
        "Age of the oldest pending task (0 when none).",
        labels=("queue",),
    )
    for queue in snapshot:
        for state in QUEUE_STATES:
            sizes.add_metric([queue.queue, state], queue.sizes.get(state, 0))
        oldest.add_metric([queue.queue], queue.oldest_pending_seconds)
    yield sizes
    yield oldest


def _float_text(value: float) -> str:
    return repr(float(value))


def new_registry(collector: Collector) -> CollectorRegistry:
    """A registry of this processor's own (never prometheus-client's global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The text format a Prometheus scrape expects."""
    return generate_latest(registry)
