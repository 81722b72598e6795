"""The JSON API under /api/: what the pages' actions call and what scripts may drive.

Reads are GETs that return the inspector's models as JSON (``GET /api/queues`` returns the
objects of ``tandemq queues --json``). Actions are POSTs, checked by ``guard_action``: refused
in read-only mode, from another site, or without the CSRF token.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tandemq.common.task import TaskState
from tandemq.inspector import Action, queues_payload

from .app_state import state_of, task_of
from .security import CSRF_HEADER, Refused, cross_site_reason

MAX_LIMIT = 500
TASK_ACTIONS = {a.value: a for a in Action}


def routes() -> list[Route]:
    return [
        Route("/queues", list_queues),
        Route("/queues/{queue}", show_queue),
        Route("/history", history),
        Route("/queues/{queue}/history", history),
        Route("/queues/{queue}/states/{state}/tasks", list_tasks),
        Route("/queues/{queue}/tasks/{task_id}", show_task),
        Route("/processors", processors),
        Route("/cron", cron),
        Route("/queues/{queue}/tasks/{task_id}/cancel", cancel_task, methods=["POST"]),
        Route("/queues/{queue}/tasks/{task_id}/{action}", task_action, methods=["POST"]),
        Route("/queues/{queue}/states/{state}/{action}", bulk_action, methods=["POST"]),
        Route("/queues/{queue}/pause", pause, methods=["POST"]),
        Route("/queues/{queue}/unpause", unpause, methods=["POST"]),
    ]


# -- validation -------------------------------------------------------------------------------


def state_param(request: Request) -> TaskState:
    value = request.path_params["state"]
    try:
        return TaskState(value)
    except ValueError:
        states = ", ".join(s.value for s in TaskState)
        raise HTTPException(404, f"no state {value!r}; states are {states}") from None


def action_param(request: Request) -> Action:
    value = request.path_params["action"]
    if value not in TASK_ACTIONS:
        raise HTTPException(404, f"no action {value!r}; actions are run, archive, delete")
    return TASK_ACTIONS[value]


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HTTPException(400, f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise HTTPException(400, f"{name} must be between {low} and {high}, got {value}")
    return value


def guard_action(request: Request) -> None:
    """Refuse an action in read-only mode, from another site, or without the CSRF token."""
    state = state_of(request)
    if state.read_only:
        raise Refused("the dashboard is read-only")
    reason = cross_site_reason(request.headers, state.trusted_origins)
    if reason is not None:
        raise Refused(f"cross-site request refused ({reason})")
    if not state.csrf.valid(request.headers.get(CSRF_HEADER)):
        raise Refused("missing or wrong CSRF token (send the page's X-CSRF-Token header)")


def _json(model: BaseModel | list[Any] | dict[str, Any]) -> JSONResponse:
    if isinstance(model, BaseModel):
        return JSONResponse(model.model_dump(mode="json"))
    return JSONResponse(model)


# -- reads ------------------------------------------------------------------------------------


async def list_queues(request: Request) -> JSONResponse:
    stats = await state_of(request).inspector.queues()
    return _json(queues_payload(stats))


async def show_queue(request: Request) -> JSONResponse:
    return _json(await state_of(request).inspector.queue(request.path_params["queue"]))


async def history(request: Request) -> JSONResponse:
    queue = request.path_params.get("queue")
    return _json(await state_of(request).inspector.history(queue))


async def list_tasks(request: Request) -> JSONResponse:
    state = state_param(request)
    offset = int_param(request, "offset", 0, 0, 10**12)
    limit = int_param(request, "limit", 50, 1, MAX_LIMIT)
    inspector = state_of(request).inspector
    page = await inspector.list_tasks(
        request.path_params["queue"], state, offset=offset, limit=limit
    )
    return _json(page)


async def show_task(request: Request) -> JSONResponse:
    task = await task_of(request)
    return _json(task)


async def processors(request: Request) -> JSONResponse:
    found = await state_of(request).inspector.processors()
    return _json([p.model_dump(mode="json") for p in found])


async def cron(request: Request) -> JSONResponse:
    entries = await state_of(request).inspector.cron_entries()
    return _json([e.model_dump(mode="json") for e in entries])


# -- actions ----------------------------------------------------------------------------------


async def task_action(request: Request) -> JSONResponse:
    guard_action(request)
    action = action_param(request)
    queue, task_id = request.path_params["queue"], request.path_params["task_id"]
    inspector = state_of(request).inspector
    was = await inspector.task_action(queue, task_id, action)
    return _json({"queue": queue, "task_id": task_id, "action": action.value, "was": was.value})


async def cancel_task(request: Request) -> JSONResponse:
    """Cancel one task (pending, scheduled, retry: at once; active: its processor stops it)."""
    guard_action(request)
    queue, task_id = request.path_params["queue"], request.path_params["task_id"]
    outcome = await state_of(request).inspector.cancel_task(queue, task_id)
    return _json({"queue": queue, "task_id": task_id, "action": "cancel", "outcome": outcome})


async def bulk_action(request: Request) -> JSONResponse:
    guard_action(request)
    state, action = state_param(request), action_param(request)
    inspector = state_of(request).inspector
    result = await inspector.bulk_action(request.path_params["queue"], state, action)
    return _json(result)


async def pause(request: Request) -> JSONResponse:
    return await _set_paused(request, paused=True)


async def unpause(request: Request) -> JSONResponse:
    return await _set_paused(request, paused=False)


async def _set_paused(request: Request, *, paused: bool) -> JSONResponse:
    guard_action(request)
    queue = request.path_params["queue"]
    inspector = state_of(request).inspector
    await (inspector.pause(queue) if paused else inspector.unpause(queue))
    return _json({"queue": queue, "paused": paused})
