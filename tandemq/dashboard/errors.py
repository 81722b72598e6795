"""Every failure becomes a clear answer: JSON ``{"error": ...}`` under /api/, a small page
elsewhere. Unknown queue, state or task: 404; Redis away: 503; never a bare 500 for input."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tandemq.common.errors import (
    BrokerUnavailable,
    InvalidRequest,
    QueueNotFound,
    TandemqError,
    TaskNotFound,
)

from .app_state import root_of
from .pages import error_page


def install_error_handlers(app: Starlette) -> None:
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(QueueNotFound, _not_found)
    app.add_exception_handler(TaskNotFound, _not_found)
    app.add_exception_handler(InvalidRequest, _bad_request)
    app.add_exception_handler(BrokerUnavailable, _unavailable)
    app.add_exception_handler(TandemqError, _refused_by_tandemq)


def answer(request: Request, status: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": message, "status": status}, status_code=status)
    return error_page(request, status, message)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(f"{root_of(request)}/api/") or (
        "application/json" in request.headers.get("accept", "")
    )


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = answer(request, exc.status_code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _not_found(request: Request, exc: Exception) -> Response:
    return answer(request, 404, str(exc))


async def _bad_request(request: Request, exc: Exception) -> Response:
    return answer(request, 400, str(exc))


async def _unavailable(request: Request, exc: Exception) -> Response:
    return answer(request, 503, f"Redis is unavailable: {exc}")


async def _refused_by_tandemq(request: Request, exc: Exception) -> Response:
    return answer(request, 409, str(exc))
