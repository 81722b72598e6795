"""Rich tables for what the inspector returns. Pure: models in, renderables out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich.table import Table
from rich.text import Text

from tandemq.common.presence import ProcessorInfo
from tandemq.common.task import TaskState
from tandemq.inspector import QueueHistory, QueueStats, TaskDetail, TaskPage

STATES = ("pending", "active", "scheduled", "retry", "archived", "completed", "canceled")


def duration(seconds: float | None) -> str:
    """``1h02m``, ``3m05s``, ``12.3s``; ``-`` for none."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "-"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    return f"{duration(seconds)} ago" if seconds >= 0 else f"in {duration(-seconds)}"


def stamp(moment: datetime | None) -> str:
    return (
        "-"
        if moment is None
        else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    )


def queues_table(stats: Sequence[QueueStats]) -> Table:
    table = Table(title="queues", title_justify="left")
    table.add_column("queue", style="bold")
    for state in STATES:
        table.add_column(state, justify="right")
    table.add_column("oldest pending", justify="right")
    table.add_column("processed today", justify="right")
    table.add_column("failed today", justify="right")
    for s in stats:
        name = Text(s.queue)
        if s.paused:
            name.append(" (paused)", style="yellow")
        sizes = [str(getattr(s, state)) for state in STATES]
        failed = Text(str(s.failed_today), style="red" if s.failed_today else "")
        table.add_row(name, *sizes, duration(s.oldest_pending_age), str(s.processed_today), failed)
    if not stats:
        table.caption = "no queues yet: nothing was sent and no processor started"
    return table


def _when(page: TaskPage) -> tuple[str, str]:
    """The time column that matters for the page's state."""
    return {
        TaskState.PENDING: ("waiting since", "enqueued_at"),
        TaskState.ACTIVE: ("enqueued", "enqueued_at"),
        TaskState.SCHEDULED: ("due", "next_process_at"),
        TaskState.RETRY: ("next attempt", "next_process_at"),
        TaskState.ARCHIVED: ("failed", "failed_at"),
        TaskState.COMPLETED: ("completed", "completed_at"),
        TaskState.CANCELED: ("canceled", "completed_at"),
    }[page.state]


def tasks_table(page: TaskPage) -> Table:
    shown = f"{page.offset + 1}-{page.offset + len(page.tasks)}" if page.tasks else "none"
    title = f"{page.state} tasks of {page.queue}: {shown} of {page.total} ({page.order})"
    table = Table(title=title, title_justify="left")
    label, field = _when(page)
    for column in ("id", "type", label, "retried"):
        table.add_column(column, no_wrap=column == "id")
    table.add_column("processor" if page.state is TaskState.ACTIVE else "payload / error")
    for t in page.tasks:
        detail = (
            Text(t.processor or "-")
            if page.state is TaskState.ACTIVE
            else Text(t.error, style="red") if t.error
            else Text(t.payload_preview + ("…" if t.payload_truncated else ""))
        )  # fmt: skip
        retried = f"{t.retried}/{t.max_retry}"
        table.add_row(t.id, t.type, ago(getattr(t, field)), retried, detail)
    return table


def task_panel(task: TaskDetail) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, str | None]] = [
        ("id", task.id), ("queue", task.queue), ("type", task.type), ("state", task.state),
        ("attempts", str(task.attempts)), ("retried", f"{task.retried} of {task.max_retry}"),
        ("processor", task.processor), ("enqueued", stamp(task.enqueued_at)),
        ("next run", stamp(task.next_process_at) if task.next_process_at else None),
        ("lease expires", stamp(task.lease_expires_at) if task.lease_expires_at else None),
        ("failed", stamp(task.failed_at) if task.failed_at else None),
        ("archived", stamp(task.archived_at) if task.archived_at else None),
        ("completed", stamp(task.completed_at) if task.completed_at else None),
        ("expires", stamp(task.expires_at) if task.expires_at else None),
        ("deadline", stamp(task.deadline) if task.deadline else None),
        ("timeout", str(task.timeout) if task.timeout else None),
        ("retention", str(task.retention) if task.retention else None),
        ("unique lock", task.unique_lock),
    ]  # fmt: skip
    if task.archived_by_operator:
        rows.append(("archived by", "an operator"))
    for key, value in rows:
        if value is not None:
            table.add_row(key, value)
    return table


def processors_table(processors: Sequence[ProcessorInfo]) -> Table:
    table = Table(title=f"processors: {len(processors)} live", title_justify="left")
    for column in (
        "processor",
        "host",
        "pid",
        "version",
        "queues",
        "busy",
        "running",
        "up",
        "heartbeat",
    ):
        table.add_column(column)
    now = datetime.now(UTC)
    for p in processors:
        queues = ",".join(f"{q}={w}" for q, w in p.queues.items())
        if p.strict_priority:
            queues += " (strict)"
        running = ", ".join(f"{r.type} {r.id} ({ago(r.started_at, now)})" for r in p.running[:3])
        if len(p.running) > 3:
            running += f" +{p.busy - 3} more"
        table.add_row(
            p.id, p.host, str(p.pid), p.version, queues, f"{p.busy}/{p.concurrency}",
            running or "-", duration((now - p.started_at).total_seconds()),
            ago(p.last_heartbeat, now),
        )  # fmt: skip
    return table


def totals_table(stats: Sequence[QueueStats], history: QueueHistory, processors: int) -> Table:
    last_minute = history.per_minute[-1] if history.per_minute else None
    hour_processed = sum(p.processed for p in history.per_minute)
    hour_failed = sum(p.failed for p in history.per_minute)
    table = Table(title="totals", title_justify="left")
    for column in ("processors", *STATES, "processed/failed this minute", "last hour", "today"):
        table.add_column(column, justify="right")
    sizes = [str(sum(getattr(s, state) for s in stats)) for state in STATES]
    table.add_row(
        str(processors),
        *sizes,
        f"{last_minute.processed}/{last_minute.failed}" if last_minute else "-",
        f"{hour_processed}/{hour_failed}",
        f"{sum(s.processed_today for s in stats)}/{sum(s.failed_today for s in stats)}",
    )
    return table
