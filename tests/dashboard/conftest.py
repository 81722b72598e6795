"""Fixtures for the dashboard: the app over a real Inspector on the test's prefix, and an
HTTP client that talks to it in the test's own event loop (httpx's ASGI transport)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from starlette.applications import Starlette

from tandemq.dashboard import create_app
from tandemq.inspector import Inspector
from tests.inspector.conftest import Job, Seeder, inspector, seed

__all__ = ["Job", "Seeder", "inspector", "seed"]

BASE = "http://dash.test"
ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def client_for() -> AsyncIterator[ClientFactory]:
    """``client_for(app)``: an httpx client on the app, closed at the end of the test."""
    made: list[httpx.AsyncClient] = []

    def make(app: Starlette, **options: object) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=BASE,
            **options,  # type: ignore[arg-type]
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def app(inspector: Inspector) -> Starlette:
    return create_app(inspector)


@pytest.fixture
def client(app: Starlette, client_for: ClientFactory) -> httpx.AsyncClient:
    return client_for(app)


def token_of(app: Starlette) -> str:
    """The CSRF token the app's pages embed."""
    token: str = app.state.dashboard.csrf.token
    return token


def same_origin(app: Starlette) -> dict[str, str]:
    """Headers a browser sends with a POST from the dashboard's own page."""
    return {
        "X-CSRF-Token": token_of(app),
        "Origin": BASE,
        "Sec-Fetch-Site": "same-origin",
    }
