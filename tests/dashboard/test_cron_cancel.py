"""The dashboard's cron page and /api/cron, and its cancel action, over a real Redis: what
they show, that cancel moves the task, and that cancel is refused like every action
(read-only, cross-site, no token) and answers 404 for an unknown task."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis
from starlette.applications import Starlette

from tandemq.common.broker import Broker
from tandemq.dashboard import create_app
from tandemq.inspector import Inspector
from tests.cron_seed import register_entries
from tests.dashboard.conftest import ClientFactory, Seeder, same_origin


async def test_api_cron_returns_the_cli_json_objects(
    client: httpx.AsyncClient, inspector: Inspector, broker: Broker, redis: Redis, prefix: str
) -> None:
    assert (await client.get("/api/cron")).json() == []
    await register_entries(broker, redis, prefix)
    response = await client.get("/api/cron")
    assert response.status_code == 200
    expected = [e.model_dump(mode="json") for e in await inspector.cron_entries()]
    assert response.json() == expected
    assert expected[0]["id"] == "report" and expected[0]["last_run"] is not None


async def test_cron_page_lists_entries_with_next_and_last_run(
    client: httpx.AsyncClient, broker: Broker, redis: Redis, prefix: str
) -> None:
    empty = await client.get("/cron")
    assert empty.status_code == 200 and "No periodic entry" in empty.text
    assert 'href="/cron"' in empty.text  # the nav link
    await register_entries(broker, redis, prefix)
    page = await client.get("/cron")
    assert page.status_code == 200
    assert 'data-entry="report"' in page.text and 'data-entry="sync"' in page.text
    assert "*/5 * * * *" in page.text and "Europe/Riga" in page.text
    assert "every 0:15:00" in page.text
    assert "2025-12-29 09:20:00+00:00" in page.text  # last run, in the cell's title
    assert "2025-12-29 09:25:00+00:00" in page.text  # next run


async def test_cancel_cancels_a_waiting_task_and_offers_the_button(
    app: Starlette, client: httpx.AsyncClient, inspector: Inspector, seed: Seeder
) -> None:
    task_id = await seed.scheduled("mail")
    page = await client.get("/queues/mail/scheduled")
    assert f"/api/queues/mail/tasks/{task_id}/cancel" in page.text
    assert "/states/scheduled/cancel" not in page.text  # no bulk cancel
    detail = await client.get(f"/queues/mail/tasks/{task_id}")
    assert f"/api/queues/mail/tasks/{task_id}/cancel" in detail.text
    response = await client.post(
        f"/api/queues/mail/tasks/{task_id}/cancel", headers=same_origin(app)
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "queue": "mail", "task_id": task_id, "action": "cancel", "outcome": "canceled",
    }  # fmt: skip
    assert (await inspector.get_task("mail", task_id)).state == "canceled"
    done = await client.get(f"/queues/mail/tasks/{task_id}")
    assert f"/tasks/{task_id}/cancel" not in done.text  # an ended task offers no cancel


async def test_cancel_of_a_running_task_is_canceling(
    app: Starlette, client: httpx.AsyncClient, seed: Seeder
) -> None:
    task_id = await seed.active("mail")
    response = await client.post(
        f"/api/queues/mail/tasks/{task_id}/cancel", headers=same_origin(app)
    )
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "canceling"


async def test_cancel_of_an_unknown_task_is_404(
    app: Starlette, client: httpx.AsyncClient, seed: Seeder
) -> None:
    await seed.pending("mail")
    response = await client.post(
        "/api/queues/mail/tasks/no-such-task/cancel", headers=same_origin(app)
    )
    assert response.status_code == 404
    assert "no-such-task" in response.json()["error"]


async def test_cancel_is_refused_read_only_and_without_token(
    app: Starlette,
    client: httpx.AsyncClient,
    inspector: Inspector,
    client_for: ClientFactory,
    seed: Seeder,
) -> None:
    task_id = await seed.retry("mail")
    url = f"/api/queues/mail/tasks/{task_id}/cancel"
    assert (await client.post(url)).status_code == 403  # no CSRF token
    cross = {**same_origin(app), "Sec-Fetch-Site": "cross-site"}
    assert (await client.post(url, headers=cross)).status_code == 403
    read_only = create_app(inspector, read_only=True)
    ro_client = client_for(read_only)
    refused = await ro_client.post(url, headers=same_origin(read_only))
    assert refused.status_code == 403 and "read-only" in refused.json()["error"]
    page = await ro_client.get(f"/queues/mail/tasks/{task_id}")
    assert "/cancel" not in page.text
    assert (await inspector.get_task("mail", task_id)).state == "retry"
