"""The demo's payload types and handlers: a small shop's background work.

Run a worker for these alone with ``tandemq run examples.tasks:make_processor`` (settings from
the environment, see README), or let ``examples/demo.py`` start one next to a distributor.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import ClassVar

from pydantic import BaseModel, Field

from tandemq.common.task import TaskInfo
from tandemq.processor import Processor, SkipRetry, TaskContext


class SendWelcomeEmail(BaseModel):
    tandemq_type: ClassVar[str] = "demo.send_welcome_email"  # a stable wire name
    username: str


class ResizeImage(BaseModel):
    tandemq_type: ClassVar[str] = "demo.resize_image"
    path: str
    width: int = Field(gt=0)


class ChargeCard(BaseModel):
    """Fails ``flaky_attempts`` times (a card gateway timing out), then succeeds."""

    tandemq_type: ClassVar[str] = "demo.charge_card"
    order_id: int
    flaky_attempts: int = 0


class SyncInventory(BaseModel):
    """Always fails: retried up to its max_retry, then archived with the last error."""

    tandemq_type: ClassVar[str] = "demo.sync_inventory"
    sku: str


class ApplyCoupon(BaseModel):
    """An expired coupon cannot succeed later: SkipRetry archives it at once."""

    tandemq_type: ClassVar[str] = "demo.apply_coupon"
    code: str
    expired: bool = False


class BuildReport(BaseModel):
    """Takes ``seconds``; sent with a shorter timeout, it is cancelled and retried/archived."""

    tandemq_type: ClassVar[str] = "demo.build_report"
    seconds: float


class GatewayTimeout(Exception):
    pass


def demo_retry_delay(retried: int, error: BaseException, task: TaskInfo) -> timedelta:
    """Fast retries so the demo ends in seconds (the default backoff starts at 1 s)."""
    return timedelta(milliseconds=200 * 2**retried)


async def send_welcome_email(email: SendWelcomeEmail, ctx: TaskContext) -> None:
    await asyncio.sleep(0.01)
    ctx.logger.info("email.sent", to=email.username)


def resize_image(image: ResizeImage, ctx: TaskContext) -> None:
    # A plain def: blocking work runs in the processor's thread pool, not on the event loop.
    ctx.logger.info("image.resized", path=image.path, width=image.width)


async def charge_card(charge: ChargeCard, ctx: TaskContext) -> None:
    if ctx.retried < charge.flaky_attempts:
        raise GatewayTimeout(f"gateway timed out charging order {charge.order_id}")
    ctx.logger.info("card.charged", order_id=charge.order_id, attempt=ctx.attempt)


async def sync_inventory(sync: SyncInventory, ctx: TaskContext) -> None:
    raise ConnectionError(f"warehouse API refused sku {sync.sku}")


async def apply_coupon(coupon: ApplyCoupon, ctx: TaskContext) -> None:
    if coupon.expired:
        raise SkipRetry(f"coupon {coupon.code} expired")


async def build_report(report: BuildReport, ctx: TaskContext) -> None:
    await asyncio.sleep(report.seconds)


def register(processor: Processor) -> Processor:
    """Attach every demo handler to ``processor``."""
    processor.handler(SendWelcomeEmail)(send_welcome_email)
    processor.handler(ResizeImage)(resize_image)
    processor.handler(ChargeCard)(charge_card)
    processor.handler(SyncInventory)(sync_inventory)
    processor.handler(ApplyCoupon)(apply_coupon)
    processor.handler(BuildReport)(build_report)
    return processor


def make_processor() -> Processor:
    """For ``tandemq run examples.tasks:make_processor``: settings from the environment."""
    return register(Processor.from_env(retry_delay=demo_retry_delay))
