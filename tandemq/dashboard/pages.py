"""The HTML pages, rendered on the server from the inspector's models.

Every page has a live part (``#live``); with ``?partial=1`` only that part is rendered, and
dashboard.js fetches it every few seconds and swaps it in: live updates with one rendering
path and no front-end build.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from tandemq import __version__
from tandemq.common.task import TaskState
from tandemq.inspector import QueueHistory, schedule_and_tz

from . import charts
from .api import int_param, state_param
from .app_state import root_of, state_of, task_of

PAGE_SIZE = 25
STATES = [s.value for s in TaskState]
# Which task actions each state offers (the inspector refuses the others anyway).
ACTIONS = {
    "pending": ("archive", "delete"),
    "active": (),
    "scheduled": ("run", "archive", "delete"),
    "retry": ("run", "archive", "delete"),
    "archived": ("run", "delete"),
    "completed": ("delete",),
    "canceled": ("delete",),
}
# States whose tasks one may cancel, one at a time (there is no bulk cancel).
CANCELABLE = frozenset({"pending", "scheduled", "retry", "active"})


def routes() -> list[Route]:
    return [
        Route("/", overview, name="overview"),
        Route("/processors", processors, name="processors"),
        Route("/cron", cron_page, name="cron"),
        Route("/queues/{queue}", queue_home, name="queue"),
        Route("/queues/{queue}/tasks/{task_id}", task_page, name="task"),
        Route("/queues/{queue}/{state}", task_list, name="tasks"),
    ]


def templates() -> Jinja2Templates:
    folder = resources.files("tandemq.dashboard") / "templates"
    env = Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(ago=_ago, seconds=_seconds, number=_number, pretty=_pretty)
    env.globals.update(STATES=STATES, ACTIONS=ACTIONS, CANCELABLE=CANCELABLE, version=__version__)
    return Jinja2Templates(env=env)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    state = state_of(request)
    context.update(
        request=request,
        partial=request.query_params.get("partial") == "1",
        root=root_of(request),
        read_only=state.read_only,
        csrf_token=state.csrf.token,
        refresh_ms=state.refresh_ms,
        title=state.title,
    )
    return state.templates.TemplateResponse(request, name, context, status_code=status_code)


def error_page(request: Request, status: int, message: str) -> Response:
    return render(request, "error.html", status, status=status, message=message)


# -- pages ------------------------------------------------------------------------------------


async def overview(request: Request) -> Response:
    inspector = state_of(request).inspector
    queues = await inspector.queues()
    history = await inspector.history(None)
    totals = {s: sum(getattr(q, s) for q in queues) for s in STATES}
    sizes = charts.stacked(
        [(q.queue, [(s, getattr(q, s), f"s-{s}") for s in STATES[:5]]) for q in queues],
        title="tasks per queue and state",
    )
    return render(
        request,
        "overview.html",
        queues=queues,
        totals=totals,
        processed_today=sum(q.processed_today for q in queues),
        failed_today=sum(q.failed_today for q in queues),
        size_chart=sizes,
        **_history_charts(history),
    )


async def queue_home(request: Request) -> Response:
    queue = request.path_params["queue"]
    await state_of(request).inspector.queue(queue)  # 404 for an unknown queue
    return RedirectResponse(request.url_for("tasks", queue=queue, state="pending"), 303)


async def task_list(request: Request) -> Response:
    inspector = state_of(request).inspector
    queue, state = request.path_params["queue"], state_param(request)
    stats = await inspector.queue(queue)
    page_no = int_param(request, "page", 1, 1, 10**9)
    offset = (page_no - 1) * PAGE_SIZE
    page = await inspector.list_tasks(queue, state, offset=offset, limit=PAGE_SIZE)
    history = await inspector.history(queue)
    pages = max((page.total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render(
        request,
        "tasks.html",
        stats=stats,
        page=page,
        state=state.value,
        page_no=page_no,
        pages=pages,
        **_history_charts(history, days=False),
    )


async def task_page(request: Request) -> Response:
    task = await task_of(request)
    return render(request, "task.html", task=task, payload=_pretty(task.payload))


async def processors(request: Request) -> Response:
    found = await state_of(request).inspector.processors()
    return render(request, "processors.html", processors=found)


async def cron_page(request: Request) -> Response:
    entries = await state_of(request).inspector.cron_entries()
    rows = [(e, *schedule_and_tz(e)) for e in entries]
    return render(request, "cron.html", entries=rows)


# -- helpers ----------------------------------------------------------------------------------


def _history_charts(history: QueueHistory, *, days: bool = True) -> dict[str, Any]:
    """Per-minute (and per-day) bars; without the day chart the minute one spans the page."""
    series = history.per_minute
    minute = charts.bars(
        [p.at.strftime("%H:%M") for p in series],
        [
            charts.Series("processed", [p.processed for p in series], "c-processed"),
            charts.Series("failed", [p.failed for p in series], "c-failed"),
        ],
        title="processed and failed per minute",
        width=charts.WIDTH if days else charts.WIDTH * 2,
    )
    found: dict[str, Any] = {"minute_chart": minute}
    if days:
        per_day = history.per_day
        found["day_chart"] = charts.bars(
            [p.at.strftime("%b %d") for p in per_day],
            [
                charts.Series("processed", [p.processed for p in per_day], "c-processed"),
                charts.Series("failed", [p.failed for p in per_day], "c-failed"),
            ],
            title="processed and failed per day",
        )
    return found


def _ago(value: datetime | None) -> str:
    if value is None:
        return "-"
    seconds = (datetime.now(UTC) - value).total_seconds()
    if seconds < 0:
        return "in " + _seconds(-seconds)
    return _seconds(seconds) + " ago"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    value = max(value, 0)
    if value < 1:
        return f"{value * 1000:.0f} ms" if value else "0 s"
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    if value < 172_800:
        return f"{value / 3600:.0f} h"
    return f"{value / 86400:.0f} d"


def _number(value: int | float) -> str:
    return f"{value:,}"


def _pretty(payload: Any) -> str:
    """The payload as indented JSON when it parses, else as stored."""
    if isinstance(payload, str):
        try:
            return json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
        except ValueError:
            return payload
    return json.dumps(payload, indent=2, ensure_ascii=False, default=str)
