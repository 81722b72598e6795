"""The dashboard end to end in headless Chromium (Debian's ``chromium``, driven by Playwright),
served by uvicorn over a real Inspector and Redis, with a real Processor where tasks must run.

Each test acts through the page the way an operator would and checks Redis afterwards; the
page is never reloaded, so every change seen also proves the live refresh.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import uvicorn
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.envelope import is_envelope
from tandemq.common.keys import Keys
from tandemq.dashboard import create_app
from tandemq.distributor import Distributor
from tandemq.inspector import Inspector
from tandemq.processor import TaskContext
from tests.conftest import ProcessorFactory
from tests.dashboard.conftest import Job, Seeder
from tests.inspector.conftest import OWNER
from tests.support import eventually, free_port, logged

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="playwright not installed: pip install -e '.[test]'"
)
CHROMIUM = shutil.which("chromium")
# Skipped on a machine without chromium, but never in CI, where .ci/run installs it.
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="no chromium on PATH: apt-get install chromium (.ci/run does)",
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REFRESH_SECONDS = 0.3
WAIT_MS = 10_000


@pytest.fixture
async def dashboard_url(inspector: Inspector) -> AsyncIterator[str]:
    """The dashboard served by uvicorn on a free port, in this test's event loop."""
    app = create_app(inspector, refresh_seconds=REFRESH_SECONDS)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: _started(server), lambda up: up)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving


async def _started(server: uvicorn.Server) -> bool:
    return server.started


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = await browser.new_page(viewport={"width": 1280, "height": 900})
        tab.set_default_timeout(WAIT_MS)
        tab.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        yield tab
        await browser.close()


def _expect(locator: Any) -> Any:
    return playwright_api.expect(locator)


async def test_overview_shows_the_counts_in_redis_and_follows_them(
    page: Any, dashboard_url: str, inspector: Inspector, seed: Seeder, distributor: Distributor
) -> None:
    await seed.retry("mail")
    await seed.archived("reports")
    await seed.pending("mail", 3)
    await page.goto(dashboard_url + "/")
    for stats in await inspector.queues():
        row = page.locator(f'tr[data-queue="{stats.queue}"]')
        for state in ("pending", "active", "scheduled", "retry", "archived", "completed"):
            await _expect(row.locator(f'[data-count="{state}"]')).to_have_text(
                str(getattr(stats, state))
            )
    await _expect(page.locator('[data-total="pending"]')).to_have_text("3")
    await distributor.send(Job(n=9), queue="mail")  # no reload: the live refresh shows it
    await _expect(page.locator('tr[data-queue="mail"] [data-count="pending"]')).to_have_text("4")
    assert (await inspector.queue("mail")).pending == 4


async def test_archiving_a_retry_task_moves_it(
    page: Any, dashboard_url: str, inspector: Inspector, seed: Seeder
) -> None:
    task_id = await seed.retry("mail")
    await page.goto(f"{dashboard_url}/queues/mail/retry")
    row = page.locator(f'tr[data-task="{task_id}"]')
    await row.get_by_role("button", name="Archive").click()
    await _expect(row).to_have_count(0)
    await _expect(page.locator('[data-tab="archived"] .count')).to_have_text("1")
    await _expect(page.locator('[data-tab="retry"] .count')).to_have_text("0")
    assert (await inspector.get_task("mail", task_id)).state == "archived"


@pytest.mark.wire  # envelopes are only sent over the pipelining connection
async def test_a_pending_envelope_task_is_listed_shown_and_archived(
    page: Any, dashboard_url: str, inspector: Inspector, distributor: Distributor, redis: Redis,
    prefix: str,
) -> None:  # fmt: skip
    await distributor.send(Job(n=1, note="own"), queue="mail", task_id="own-id")
    sent = await distributor.send(Job(n=2, note="env"), queue="mail")
    assert is_envelope(await redis.lindex(Keys(prefix).queue("mail").pending, 0))
    await page.goto(f"{dashboard_url}/queues/mail/pending")
    rows = page.locator("#tasks tbody tr")
    await _expect(rows).to_have_count(2)
    assert [await r.get_attribute("data-task") for r in await rows.all()] == ["own-id", sent.id]
    row = page.locator(f'tr[data-task="{sent.id}"]')
    await _expect(row.locator(".type")).to_have_text("tests.job")
    await _expect(row.locator(".payload")).to_have_text('{"n":2,"note":"env"}')
    await row.get_by_role("link", name=sent.id).click()
    await _expect(page.locator('[data-field="state"]')).to_have_text("pending")
    await _expect(page.locator("pre.code")).to_contain_text('"note": "env"')
    # pinned by the view: the page's refreshes read its hash, not the whole pending list
    assert await redis.lindex(Keys(prefix).queue("mail").pending, 0) == sent.id.encode()
    await page.get_by_role("button", name="Archive").click()
    await _expect(page.locator('[data-field="state"]')).to_have_text("archived")
    assert (await inspector.get_task("mail", sent.id)).archived_by_operator
    assert (await inspector.queue("mail")).pending == 1


async def test_running_an_archived_task_completes_it(
    page: Any,
    dashboard_url: str,
    inspector: Inspector,
    distributor: Distributor,
    broker: Broker,
    make_processor: ProcessorFactory,
) -> None:
    info = await distributor.send(Job(n=1), queue="mail", max_retry=0, retention=timedelta(hours=1))
    await broker.dequeue({"mail": 1}, OWNER, 60_000)
    assert await broker.archive("mail", info.id, OWNER, "ValueError: the old model")
    ran: list[int] = []
    processor = await make_processor(queues={"mail": 1})

    @processor.handler(Job)
    async def job(task: Job, ctx: TaskContext) -> None:
        ran.append(task.n)

    async with processor:
        await page.goto(f"{dashboard_url}/queues/mail/tasks/{info.id}")
        await _expect(page.locator('[data-field="state"]')).to_have_text("archived")
        await page.get_by_role("button", name="Run").click()
        await _expect(page.locator('[data-field="state"]')).to_have_text("completed")
    assert ran == [1]
    assert (await inspector.get_task("mail", info.id)).state == "completed"


async def test_a_paused_queue_is_skipped_by_the_processor(
    page: Any,
    dashboard_url: str,
    inspector: Inspector,
    distributor: Distributor,
    seed: Seeder,
    make_processor: ProcessorFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tandemq")
    await distributor.send(Job(n=0), queue="witness")
    ran: list[str] = []
    processor = await make_processor(queues={"mail": 1, "witness": 1})

    @processor.handler(Job)
    async def job(task: Job, ctx: TaskContext) -> None:
        ran.append(ctx.queue)

    async with processor:
        await eventually(lambda: _ran(ran), lambda got: got == ["witness"], timeout=WAIT_MS / 1000)
        await page.goto(dashboard_url + "/")
        row = page.locator('tr[data-queue="mail"]')
        await row.get_by_role("button", name="Pause").click()
        await _expect(row.locator(".badge")).to_have_text("paused")
        # the processor has noticed: its next fetches leave "mail" out
        await eventually(lambda: _paused_seen(caplog), lambda seen: seen, timeout=WAIT_MS / 1000)
        paused = await distributor.send(Job(n=1), queue="mail")
        await distributor.send(Job(n=2), queue="witness")
        await eventually(
            lambda: _ran(ran), lambda got: got == ["witness", "witness"], timeout=WAIT_MS / 1000
        )
        assert (await inspector.get_task("mail", paused.id)).state == "pending"
        await row.get_by_role("button", name="Resume").click()
        await _expect(row.locator(".badge")).to_have_text("running")
        await eventually(lambda: _ran(ran), lambda got: "mail" in got, timeout=WAIT_MS / 1000)
    assert (await inspector.queue("mail")).pending == 0


async def _ran(ran: list[str]) -> list[str]:
    return list(ran)


async def _paused_seen(caplog: pytest.LogCaptureFixture) -> bool:
    return any(e.get("queue") == "mail" for e in logged(caplog, "queue.paused"))
