"""The results table and the targets table, as markdown (also printed as is)."""

from __future__ import annotations

from .peers._harness import SCALE_BACKLOG, SCALE_SCHEDULED
from .targets import SUBJECT, Results, Target, fmt, value

# (heading, measurement, field)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("sequential enqueue/s", "enqueue_seq", "value"),
    ("100 senders enqueue/s", "enqueue_conc", "value"),
    ("bulk enqueue/s", "enqueue_bulk", "value"),
    ("processed/s", "process", "value"),
    ("processed/s, 2 workers", "process2", "value"),
    ("latency p50 ms", "latency", "p50"),
    ("latency p99 ms", "latency", "p99"),
    ("bytes per pending job", "memory", "value"),
)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(headings: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """Numbers right-aligned: every column but the first, or the ``right`` ones."""
    right = right if right is not None else set(range(1, len(headings)))
    align = ["---:" if i in right else "---" for i in range(len(headings))]
    return "\n".join([_row(headings), _row(align), *(_row(r) for r in rows)])


def results_table(results: Results) -> str:
    rows = [
        [lib] + [fmt(value(results, lib, key, field)) for _, key, field in COLUMNS]
        for lib in results
    ]
    return _table(["library", *(h for h, _, _ in COLUMNS)], rows)


def targets_table(targets: list[Target]) -> str:
    rows = []
    for t in targets:
        ratio = "-" if t.actual is None or not t.goal else f"{t.actual / t.goal:.2f}"
        rows.append([t.name, fmt(t.actual), fmt(t.goal), ratio, t.basis, t.status()])
    headings = ["target", SUBJECT, "goal", "tandemq / goal", "goal from", "status"]
    return _table(headings, rows, right={1, 2, 3})


def scale_table(results: Results, n: int) -> str:
    rows = [
        [label, fmt(value(results, SUBJECT, key))]
        for label, key in (
            (f"{n:,} pending (baseline)", "scale_base"),
            (f"{SCALE_BACKLOG:,} pending", "scale_1m"),
            (f"{SCALE_SCHEDULED:,} scheduled (due in 30 days) + {n:,} pending", "scale_sched"),
        )
    ]
    return _table(["backlog", f"tandemq processed/s (first {n:,})"], rows)
