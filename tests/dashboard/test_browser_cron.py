"""The cron page and the cancel button in headless Chromium (fixtures of test_browser.py):
the page reached through the nav link shows a registered entry with its runs, and Cancel on
a scheduled task's page cancels it in Redis."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.inspector import Inspector
from tests.cron_seed import register_entries
from tests.dashboard.conftest import Seeder
from tests.dashboard.test_browser import dashboard_url, page, playwright_api, pytestmark

__all__ = ["dashboard_url", "page", "pytestmark"]


async def test_cron_page_shows_a_registered_entry(
    page: Any, dashboard_url: str, broker: Broker, redis: Redis, prefix: str
) -> None:
    await page.goto(dashboard_url + "/")
    await page.get_by_role("link", name="Cron").click()
    await playwright_api.expect(page.locator(".empty")).to_contain_text("No periodic entry")
    await register_entries(broker, redis, prefix)  # no reload: the live refresh shows it
    row = page.locator('tr[data-entry="report"]')
    await playwright_api.expect(row.locator('[data-field="spec"]')).to_have_text("*/5 * * * *")
    await playwright_api.expect(row.locator('[data-field="tz"]')).to_have_text("Europe/Riga")
    await playwright_api.expect(row.locator('[data-field="last-run"]')).to_contain_text("ago")
    await playwright_api.expect(row.locator('[data-field="next-run"]')).to_contain_text("ago")
    sync = page.locator('tr[data-entry="sync"] [data-field="last-run"]')
    await playwright_api.expect(sync).to_have_text("-")


async def test_cancel_button_cancels_a_scheduled_task(
    page: Any, dashboard_url: str, inspector: Inspector, seed: Seeder
) -> None:
    task_id = await seed.scheduled("mail")
    await page.goto(f"{dashboard_url}/queues/mail/tasks/{task_id}")
    await playwright_api.expect(page.locator('[data-field="state"]')).to_have_text("scheduled")
    await page.get_by_role("button", name="Cancel").click()
    await playwright_api.expect(page.locator('[data-field="state"]')).to_have_text("canceled")
    assert (await inspector.get_task("mail", task_id)).state == "canceled"
