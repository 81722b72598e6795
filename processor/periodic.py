"""The loop every background component shares: run a step, sleep as long as it says, and on a
failure (Redis unreachable, a command Redis refused, a bug) log it and back off instead of
dying: a component that died would leave the daemon up but doing nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tandemq.common.errors import BrokerUnavailable
from tandemq.common.logging import get_logger

from .backoff import Backoff


async def repeat(step: Callable[[], Awaitable[float]], component: str) -> None:
    """Run ``step`` forever; it returns the seconds to sleep before the next run."""
    log = get_logger(__name__, component=component)
    backoff = Backoff()
    while True:
        try:
            delay = await step()
        except BrokerUnavailable as exc:
            log.error("redis.unavailable", step=component, error=str(exc), retry_in=backoff.delay)
            await backoff.wait()
        except Exception as exc:  # READONLY after a failover, MISCONF, a bug: never die silently
            log.exception(
                "component.failed", step=component, error=repr(exc), retry_in=backoff.delay
            )
            await backoff.wait()
        else:
            backoff.succeeded()
            await asyncio.sleep(delay)
