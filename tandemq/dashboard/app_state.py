"""The dashboard's state, kept on ``app.state.dashboard`` (never in a module global)."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.templating import Jinja2Templates

from tandemq.inspector import Inspector, TaskDetail

from .security import Csrf


@dataclass(slots=True)
class DashboardState:
    """What every request handler reads from ``request.app.state.dashboard``."""

    inspector: Inspector
    read_only: bool
    csrf: Csrf
    templates: Jinja2Templates
    refresh_ms: int
    title: str
    trusted_origins: frozenset[str] = field(default_factory=frozenset)


ROOT_KEY = "tandemq.dashboard.root"


def root_of(request: Request) -> str:
    """The path the dashboard is mounted at ('' at the top), for links and API detection."""
    root: str = request.scope.get(ROOT_KEY, request.scope.get("root_path", ""))
    return root


def state_of(request: Request) -> DashboardState:
    found: DashboardState = request.app.state.dashboard
    return found


async def task_of(request: Request) -> TaskDetail:
    """The task the path names (``queue``, ``task_id``), for its page and its API.

    Pinned unless read-only: the page refreshes every 2 s, and a read-only dashboard may run
    as a Redis user that can only read."""
    state = state_of(request)
    queue, task_id = request.path_params["queue"], request.path_params["task_id"]
    return await state.inspector.get_task(queue, task_id, pin=not state.read_only)
