"""Prometheus metrics of one processor, served on ``/metrics`` when TANDEMQ_METRICS_PORT is set.

The hot path only bumps integers in plain dicts (everything runs on the processor's event
loop, so no lock is needed); the Prometheus families are built from them when a scrape comes.
Queue gauges (sizes per state, age of the oldest pending task) are read from Redis in the
background and cached, so a scrape never waits on Redis. See docs/OPERATIONS.md, metrics.
"""

from __future__ import annotations

import asyncio
import bisect
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
class _Record:
    """Everything counted for one (queue, type). Bucket counts are not cumulative (one
    increment per observation); the scrape adds them up."""

    counts: list[int]
    processed: int = 0
    failed: int = 0
    retried: int = 0
    archived: int = 0
    seconds: float = 0.0


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
        self.records: dict[Labels, _Record] = {}

    def succeeded(self, task: TaskMessage, ms: float) -> None:
        self._record(task, ms)

    def was_retried(self, task: TaskMessage, ms: float) -> None:
        record = self._record(task, ms)
        record.failed += 1
        record.retried += 1

    def was_archived(self, task: TaskMessage, ms: float) -> None:
        record = self._record(task, ms)
        record.failed += 1
        record.archived += 1

    def _record(self, task: TaskMessage, ms: float) -> _Record:
        """The hot path: one dict lookup, a bisect and three increments per attempt."""
        labels = (task.queue, task.type)
        record = self.records.get(labels)
        if record is None:
            record = self.records[labels] = _Record([0] * (len(self.buckets) + 1))
        seconds = ms / 1000
        record.processed += 1
        record.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        record.seconds += seconds
        return record


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
        log = get_logger(__name__, component="metrics")
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
        tasks: TaskMetrics | None,
        in_flight: Callable[[], int] | None,
        queues: QueueGauges | None = None,
    ) -> None:
        """``tasks`` and ``in_flight`` None: queue gauges only (the standalone exporter)."""
        self._tasks = tasks
        self._in_flight = in_flight
        self._queues = queues

    def collect(self) -> Iterator[Metric]:
        if self._tasks is not None and self._in_flight is not None:
            yield from self._task_families(self._tasks, self._in_flight)
        if self._queues is not None:
            yield from _queue_families(self._queues.snapshot)

    def _task_families(self, tasks: TaskMetrics, in_flight: Callable[[], int]) -> Iterator[Metric]:
        records = list(tasks.records.items())
        yield _counter("tandemq_tasks_processed", "Finished attempts (ok or failed).", records)
        yield _counter("tandemq_tasks_failed", "Attempts whose handler raised.", records)
        yield _counter("tandemq_tasks_retried", "Failed attempts scheduled to retry.", records)
        yield _counter("tandemq_tasks_archived", "Failed attempts archived.", records)
        yield self._durations(records)
        yield GaugeMetricFamily(
            "tandemq_tasks_in_flight", "Tasks this processor holds now.", value=in_flight()
        )

    def _durations(self, records: list[tuple[Labels, _Record]]) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            "tandemq_task_duration_seconds",
            "Handler run time per attempt.",
            labels=("queue", "type"),
        )
        assert self._tasks is not None
        bounds = [*(_float_text(b) for b in self._tasks.buckets), "+Inf"]
        for labels, record in records:
            cumulative, running = [], 0
            for bound, count in zip(bounds, record.counts, strict=True):
                running += count
                cumulative.append((bound, float(running)))
            family.add_metric(list(labels), cumulative, record.seconds)
        return family


def _counter(name: str, doc: str, records: list[tuple[Labels, _Record]]) -> CounterMetricFamily:
    """``name`` without ``_total``; the field read is its last word (processed, failed, ...)."""
    family = CounterMetricFamily(name, doc, labels=("queue", "type"))
    field_name = name.rsplit("_", 1)[1]
    for labels, record in records:
        family.add_metric(list(labels), getattr(record, field_name))
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
