"""The dashboard's JSON API and pages over a real Redis: what it returns, what it refuses
(unknown names, cross-site posts, read-only mode, missing credentials), and that it mounts."""

from __future__ import annotations

import base64

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.routing import Mount

from tandemq.common.envelope import is_envelope
from tandemq.common.errors import ConfigError
from tandemq.common.keys import Keys
from tandemq.dashboard import Auth, create_app
from tandemq.distributor import Distributor
from tandemq.inspector import Inspector, queues_payload
from tests.dashboard.conftest import BASE, ClientFactory, Job, Seeder, same_origin, token_of


async def test_api_queues_returns_the_cli_json_objects(
    client: httpx.AsyncClient, inspector: Inspector, seed: Seeder
) -> None:
    await seed.retry("mail")
    await seed.pending("mail", 2)
    await seed.archived("reports")
    response = await client.get("/api/queues")
    assert response.status_code == 200
    body = response.json()
    expected = queues_payload(await inspector.queues())
    for row in (*body, *expected):  # the only field that moves between two reads
        assert row.pop("oldest_pending_age") is None or row["pending"]
    assert body == expected
    mail = next(q for q in body if q["queue"] == "mail")
    assert (mail["pending"], mail["retry"], mail["archived"], mail["paused"]) == (2, 1, 0, False)


@pytest.mark.parametrize(
    "path",
    [
        "/api/queues/nope",
        "/api/queues/nope/history",
        "/api/queues/nope/states/pending/tasks",
        "/api/queues/mail/states/bogus/tasks",
        "/api/queues/mail/tasks/no-such-id",
        "/api/nothing-here",
    ],
)
async def test_unknown_names_are_404_json(
    client: httpx.AsyncClient, seed: Seeder, path: str
) -> None:
    await seed.pending("mail")
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]


@pytest.mark.parametrize(
    "path",
    ["/queues/nope/pending", "/queues/mail/bogus", "/queues/mail/tasks/no-such-id", "/queues/nope"],
)
async def test_unknown_names_are_404_pages(
    client: httpx.AsyncClient, seed: Seeder, path: str
) -> None:
    await seed.pending("mail")
    response = await client.get(path)
    assert response.status_code == 404
    assert "Not found" in response.text


async def test_bad_paging_is_400_and_unknown_actions_404(
    app: Starlette, client: httpx.AsyncClient, seed: Seeder
) -> None:
    task_id = await seed.retry("mail")
    bad_limit = await client.get("/api/queues/mail/states/retry/tasks?limit=abc")
    assert bad_limit.status_code == 400
    assert (await client.get("/api/queues/mail/states/retry/tasks?limit=0")).status_code == 400
    explode = await client.post(
        f"/api/queues/mail/tasks/{task_id}/explode", headers=same_origin(app)
    )
    assert explode.status_code == 404
    gone = await client.post("/api/queues/mail/tasks/missing/run", headers=same_origin(app))
    assert gone.status_code == 404
    nowhere = await client.post("/api/queues/nope/pause", headers=same_origin(app))
    assert nowhere.status_code == 404
    assert "nope" in nowhere.json()["error"]


async def test_action_moves_the_task_when_sent_from_the_dashboard(
    app: Starlette, client: httpx.AsyncClient, inspector: Inspector, seed: Seeder
) -> None:
    task_id = await seed.retry("mail")
    response = await client.post(
        f"/api/queues/mail/tasks/{task_id}/archive", headers=same_origin(app)
    )
    assert response.status_code == 200, response.text
    assert response.json()["was"] == "retry"
    assert (await inspector.get_task("mail", task_id)).state == "archived"


async def test_action_in_the_wrong_state_is_409(
    app: Starlette, client: httpx.AsyncClient, seed: Seeder
) -> None:
    task_id = await seed.active("mail")
    response = await client.post(
        f"/api/queues/mail/tasks/{task_id}/delete", headers=same_origin(app)
    )
    assert response.status_code == 409
    assert response.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no token at all
        {"X-CSRF-Token": "forged"},
        {"Sec-Fetch-Site": "cross-site", "TOKEN": ""},  # TOKEN: the right token is added
        {"Origin": "https://evil.example", "TOKEN": ""},
        {"Origin": "null", "TOKEN": ""},
    ],
    ids=["no-token", "wrong-token", "cross-site", "foreign-origin", "null-origin"],
)
async def test_cross_site_or_tokenless_actions_are_refused(
    app: Starlette,
    client: httpx.AsyncClient,
    inspector: Inspector,
    seed: Seeder,
    headers: dict[str, str],
) -> None:
    task_id = await seed.retry("mail")
    if headers.pop("TOKEN", None) is not None:
        headers["X-CSRF-Token"] = token_of(app)
    refused = [
        await client.post(f"/api/queues/mail/tasks/{task_id}/archive", headers=headers),
        await client.post("/api/queues/mail/pause", headers=headers),
        await client.post("/api/queues/mail/states/retry/delete", headers=headers),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert (await inspector.get_task("mail", task_id)).state == "retry"
    assert not (await inspector.queue("mail")).paused


async def test_read_only_refuses_actions_and_hides_buttons(
    inspector: Inspector, client_for: ClientFactory, seed: Seeder
) -> None:
    app = create_app(inspector, read_only=True)
    client = client_for(app)
    task_id = await seed.retry("mail")
    response = await client.post(f"/api/queues/mail/tasks/{task_id}/run", headers=same_origin(app))
    assert response.status_code == 403
    assert "read-only" in response.json()["error"]
    assert (await inspector.get_task("mail", task_id)).state == "retry"
    page = await client.get("/queues/mail/retry")
    assert page.status_code == 200
    assert task_id in page.text
    assert "data-post" not in page.text


async def test_pause_bulk_and_unpause(
    app: Starlette, client: httpx.AsyncClient, inspector: Inspector, seed: Seeder
) -> None:
    for _ in range(3):
        await seed.retry("mail")
    paused = await client.post("/api/queues/mail/pause", headers=same_origin(app))
    assert paused.json() == {"queue": "mail", "paused": True}
    assert (await inspector.queue("mail")).paused
    bulk = await client.post("/api/queues/mail/states/retry/run", headers=same_origin(app))
    assert bulk.json()["done"] == 3
    stats = await inspector.queue("mail")
    assert (stats.retry, stats.pending) == (0, 3)
    await client.post("/api/queues/mail/unpause", headers=same_origin(app))
    assert not (await inspector.queue("mail")).paused


async def test_bearer_and_basic_auth(
    inspector: Inspector, client_for: ClientFactory, seed: Seeder
) -> None:
    await seed.pending("mail")
    app = create_app(inspector, auth=Auth(token="t0ken", username="ops", password="pw"))
    client = client_for(app)
    missing = await client.get("/api/queues")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Basic")
    assert (await client.get("/", headers={"Authorization": "Bearer wrong"})).status_code == 401
    bearer = await client.get("/api/queues", headers={"Authorization": "Bearer t0ken"})
    assert bearer.status_code == 200
    good = base64.b64encode(b"ops:pw").decode()
    bad = base64.b64encode(b"ops:guess").decode()
    assert (await client.get("/", headers={"Authorization": f"Basic {good}"})).status_code == 200
    assert (await client.get("/", headers={"Authorization": f"Basic {bad}"})).status_code == 401
    static = await client.get("/static/dashboard.js")
    assert static.status_code == 401


def test_auth_from_env_needs_both_username_and_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TANDEMQ_DASHBOARD_TOKEN", raising=False)
    monkeypatch.delenv("TANDEMQ_DASHBOARD_PASSWORD", raising=False)
    monkeypatch.setenv("TANDEMQ_DASHBOARD_USERNAME", "ops")
    with pytest.raises(ConfigError, match="TANDEMQ_DASHBOARD_PASSWORD"):
        Auth.from_env()
    monkeypatch.delenv("TANDEMQ_DASHBOARD_USERNAME")
    assert Auth.from_env() is None
    monkeypatch.setenv("TANDEMQ_DASHBOARD_TOKEN", "t")
    assert Auth.from_env() == Auth(token="t")


async def test_partial_render_is_the_live_fragment_only(
    client: httpx.AsyncClient, seed: Seeder
) -> None:
    await seed.pending("mail", 2)
    full = await client.get("/")
    part = await client.get("/?partial=1")
    assert "<html" in full.text
    assert "<html" not in part.text
    assert 'data-queue="mail"' in part.text
    assert full.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in full.headers["content-security-policy"]


async def test_mounts_inside_another_app(
    inspector: Inspector, client_for: ClientFactory, seed: Seeder
) -> None:
    await seed.pending("mail")
    host = Starlette(routes=[Mount("/ops", app=create_app(inspector))])
    client = client_for(host)
    page = await client.get("/ops/")
    assert page.status_code == 200
    assert 'href="/ops/queues/mail/pending"' in page.text
    assert 'src="/ops/static/dashboard.js' in page.text
    assert 'data-post="/ops/api/queues/mail/pause"' in page.text
    api = await client.get("/ops/api/queues")
    assert [q["queue"] for q in api.json()] == ["mail"]
    assert (await client.get("/ops/api/queues/nope")).status_code == 404
    assert str(client.base_url) == BASE


@pytest.mark.wire  # envelopes are only sent over the pipelining connection
async def test_task_view_pins_an_envelope_unless_read_only(
    inspector: Inspector, client_for: ClientFactory, distributor: Distributor, redis: Redis,
    prefix: str,
) -> None:  # fmt: skip
    """The task page refreshes every 2 s: pinned, each refresh reads one hash instead of
    walking the queue's pending list; a read-only dashboard never writes."""
    pending = Keys(prefix).queue("mail").pending
    sent = await distributor.send(Job(n=1), queue="mail")
    read_only = client_for(create_app(inspector, read_only=True))
    for path in (f"/api/queues/mail/tasks/{sent.id}", f"/queues/mail/tasks/{sent.id}"):
        assert (await read_only.get(path)).status_code == 200
    assert is_envelope(await redis.lindex(pending, 0))
    shown = await client_for(create_app(inspector)).get(f"/api/queues/mail/tasks/{sent.id}")
    assert (shown.status_code, shown.json()["state"]) == (200, "pending")
    assert await redis.lindex(pending, 0) == sent.id.encode()
