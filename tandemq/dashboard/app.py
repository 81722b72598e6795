"""The dashboard as an ASGI app: ``create_app(inspector)`` to mount, or ``tandemq dashboard``.

Everything the app needs lives on ``app.state.dashboard`` (no module globals), so several
dashboards (say, one per Redis) can be mounted in one process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib import resources

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tandemq.inspector import Inspector

from . import api, pages
from .app_state import ROOT_KEY, DashboardState
from .errors import install_error_handlers
from .security import Auth, Csrf

DEFAULT_REFRESH_SECONDS = 2.0


def create_app(
    inspector: Inspector,
    *,
    read_only: bool = False,
    auth: Auth | None = None,
    secret: str | None = None,
    refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
    title: str = "tandemq",
    trusted_origins: Sequence[str] = (),
    own_inspector: bool = False,
    debug: bool = False,
) -> Starlette:
    """The dashboard's ASGI app over ``inspector``.

    ``read_only`` refuses every action (403). ``auth`` asks every request for a bearer token
    or basic credentials (the standalone server reads them from the environment; a mounting
    app may rely on its own). ``secret`` derives the CSRF token: give replicas behind one
    load balancer the same one. ``trusted_origins`` (``https://ops.example.com``) are accepted
    on actions besides the request's own host, for a proxy that rewrites Host.
    ``own_inspector`` opens the inspector when the app starts and closes it when it stops
    (the standalone server); otherwise its owner does.
    """
    static = resources.files("tandemq.dashboard") / "static"
    routes = [
        *pages.routes(),
        Mount("/api", routes=api.routes()),
        Mount("/static", app=StaticFiles(directory=str(static)), name="static"),
    ]
    middleware = [Middleware(_Headers)]
    if auth is not None:
        middleware.insert(0, Middleware(_RequireAuth, auth=auth))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not own_inspector:
            yield
            return
        async with inspector:
            yield

    app = Starlette(debug=debug, routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.dashboard = DashboardState(
        inspector=inspector,
        read_only=read_only,
        csrf=Csrf(secret),
        templates=pages.templates(),
        refresh_ms=int(refresh_seconds * 1000),
        title=title,
        trusted_origins=frozenset(o.rstrip("/") for o in trusted_origins),
    )
    install_error_handlers(app)
    return app


class _RequireAuth:
    """401 with a challenge unless the request carries the configured credentials."""

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self._app = app
        self._auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            if not self._auth.allows(request.headers.get("authorization")):
                response = Response(
                    '{"error": "authentication required"}',
                    status_code=401,
                    media_type="application/json",
                    headers={"WWW-Authenticate": self._auth.challenge},
                )
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)


class _Headers:
    """Headers every response gets: no framing by other sites, no sniffing, no caching of
    live data, and a policy that lets pages load only the dashboard's own files."""

    _ADD: tuple[tuple[bytes, bytes], ...] = (
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (
            b"content-security-policy",
            b"default-src 'self'; img-src 'self' data:; style-src 'self'; "
            b"script-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
    )

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        # Where the dashboard is mounted, before routing into /api changes root_path.
        scope[ROOT_KEY] = scope.get("root_path", "")

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(self._ADD)
                if not scope["path"].startswith("/static"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self._app(scope, receive, add_headers)
