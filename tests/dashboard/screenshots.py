"""Regenerates the dashboard screenshots in docs/img/ (not a test):

    .venv/bin/python -m tests.dashboard.screenshots docs/img

Starts its own redis-server, fills it the way a small app would (two real processors, tasks
that succeed, fail, retry, run long or wait for later, a paused queue, an hour and a month of
counts), serves the dashboard and photographs its main pages in headless Chromium.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sys
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import uvicorn
from playwright.async_api import async_playwright
from pydantic import BaseModel

from tandemq.common.clock import now_ms
from tandemq.common.history import DAY_MS, MINUTE_MS, add_counts
from tandemq.common.keys import Keys
from tandemq.common.settings import Settings
from tandemq.dashboard import create_app
from tandemq.distributor import Distributor
from tandemq.inspector import Inspector
from tandemq.processor import Processor, TaskContext
from tests.dashboard.test_browser import CHROMIUM_ARGS, _started
from tests.support import RedisServer, eventually, free_port

PREFIX = "demo"


class SendEmail(BaseModel):
    tandemq_type: ClassVar[str] = "emails.send"
    to: str
    template: str


class ResizeImage(BaseModel):
    tandemq_type: ClassVar[str] = "images.resize"
    url: str
    width: int


class MonthlyReport(BaseModel):
    tandemq_type: ClassVar[str] = "reports.monthly"
    account_id: int
    month: str


class PaymentWebhook(BaseModel):
    tandemq_type: ClassVar[str] = "payments.webhook"
    event_id: str
    amount_cents: int


def _processor(url: str, queues: dict[str, int], concurrency: int) -> Processor:
    settings = Settings.load(
        env=False, redis_url=url, prefix=PREFIX, queues=queues, concurrency=concurrency
    )
    p = Processor(settings=settings, retry_delay=lambda n, e, t: timedelta(minutes=10 + n))

    @p.handler(SendEmail)
    async def send_email(task: SendEmail, ctx: TaskContext) -> None:
        if task.to.endswith("@bounce.example"):
            raise ConnectionError(f"SMTP 550: mailbox {task.to} unavailable")

    @p.handler(ResizeImage)
    async def resize(task: ResizeImage, ctx: TaskContext) -> None:
        if task.width > 4000:
            raise ValueError(f"width {task.width} exceeds the 4000 px limit of the resizer")

    @p.handler(MonthlyReport)
    async def report(task: MonthlyReport, ctx: TaskContext) -> None:
        await asyncio.sleep(3600)  # a long report: shows as running on the processors page

    @p.handler(PaymentWebhook)
    async def webhook(task: PaymentWebhook, ctx: TaskContext) -> None:
        return None

    return p


async def _history(url: str, queues: list[str]) -> None:
    """An hour of per-minute and a month of per-day counts, as processors would have added."""
    rng = random.Random(7)
    keys, now = Keys(PREFIX), now_ms()
    inspector = Inspector(redis_url=url, prefix=PREFIX)
    for minute in range(1, 60):
        for scale, queue in zip((40, 25, 12, 3), queues, strict=False):
            done = int(scale * (1.3 + 0.6 * rng.random() + 0.4 * (minute % 17 == 0)))
            failed = rng.choice([0, 0, 0, 1, 2]) if queue != "critical" else 0
            await add_counts(
                inspector.redis, keys, {queue: (done, failed)}, now - minute * MINUTE_MS
            )
    for day in range(1, 30):
        for scale, queue in zip((50_000, 31_000, 16_000, 4_000), queues, strict=False):
            weekend = 0.55 if day % 7 in (2, 3) else 1.0
            done = int(scale * weekend * (0.85 + 0.3 * rng.random()))
            failed = int(done * rng.choice([0.002, 0.004, 0.01, 0.03]))
            await add_counts(inspector.redis, keys, {queue: (done, failed)}, now - day * DAY_MS)
    await inspector.aclose()


async def _fill(url: str) -> None:
    async with Distributor(redis_url=url, prefix=PREFIX) as d:
        for i in range(18):
            to = f"user{i}@bounce.example" if i % 6 == 0 else f"user{i}@example.com"
            await d.send(SendEmail(to=to, template="welcome"), queue="emails", max_retry=5)
        for width in (640, 1280, 5000, 8000, 320):
            await d.send(
                ResizeImage(url=f"https://cdn.example.com/p/{width}.jpg", width=width),
                queue="default",
                max_retry=0 if width == 8000 else 3,
            )
        for account in range(3):
            await d.send(MonthlyReport(account_id=1000 + account, month="2026-11"), queue="reports")
        for n in range(4):
            await d.send(
                MonthlyReport(account_id=2000 + n, month="2026-12"),
                queue="reports",
                process_in=timedelta(days=1, hours=n),
            )
        for n in range(6):
            await d.send(
                PaymentWebhook(event_id=f"evt_{n:04d}", amount_cents=1999), queue="critical"
            )


async def _photograph(base: str, out: Path, url: str) -> None:
    inspector = Inspector(redis_url=url, prefix=PREFIX)
    archived = await inspector.list_tasks("default", "archived", limit=1)
    await inspector.aclose()
    shots = {
        "overview": "/",
        "tasks": "/queues/emails/retry",
        "task": f"/queues/default/tasks/{archived.tasks[0].id}",
        "processors": "/processors",
    }
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        page = await browser.new_page(
            viewport={"width": 1280, "height": 860}, device_scale_factor=1
        )
        for name, path in shots.items():
            await page.goto(base + path)
            await page.wait_for_timeout(300)  # a screenshot, not a test: let fonts settle
            await page.screenshot(path=str(out / f"dashboard-{name}.png"), full_page=True)
        await browser.close()


async def main(out: Path) -> None:
    server = RedisServer().start()
    try:
        url = server.url
        await _history(url, ["critical", "default", "emails", "reports"])
        workers = _processor(url, {"critical": 6, "default": 3, "emails": 1}, 20)
        reporter = _processor(url, {"reports": 1}, 2)
        await _fill(url)
        async with workers, reporter:
            inspector = Inspector(redis_url=url, prefix=PREFIX)
            await eventually(inspector.queues, lambda qs: sum(q.pending for q in qs) <= 1, 10)
            await inspector.pause("emails")
            await asyncio.sleep(1.5)  # a demo, not a test: processors notice within a second
            async with Distributor(redis_url=url, prefix=PREFIX) as d:
                for i in range(7):
                    await d.send(
                        SendEmail(to=f"late{i}@example.com", template="digest"), queue="emails"
                    )
            await eventually(
                inspector.processors, lambda ps: any(p.busy for p in ps), 10
            )  # the next heartbeat shows the long reports running
            app = create_app(inspector, title="tandemq")
            port = free_port()
            web = uvicorn.Server(
                uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
            )
            serving = asyncio.create_task(web.serve())
            await eventually(lambda: _started(web), lambda up: up)
            await _photograph(f"http://127.0.0.1:{port}", out, url)
            web.should_exit = True
            await serving
            await inspector.aclose()
    finally:
        server.stop()


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img")
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(target))
