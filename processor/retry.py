"""Retry policy: pure functions, no Redis."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

from tandemq.common.task import TaskInfo

RetryDelay = Callable[[int, BaseException, TaskInfo], timedelta]
"""``retry_delay(retried, error, task) -> timedelta``: wait before the next attempt."""

BASE = timedelta(seconds=1)
CAP = timedelta(hours=1)


def default_retry_delay(retried: int, error: BaseException, task: TaskInfo) -> timedelta:
    """Exponential backoff with jitter, capped: about 1, 2, 4, 8 s ... up to 1 hour.

    "Equal jitter": half the exponential delay is fixed, half random, so retries of many tasks
    that failed together spread out but none comes back sooner than half its step.
    """
    step = min(CAP.total_seconds(), BASE.total_seconds() * 2 ** min(retried, 32))
    return timedelta(seconds=step / 2 + random.uniform(0, step / 2))
