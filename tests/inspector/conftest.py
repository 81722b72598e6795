"""Fixtures for the inspector: an Inspector on the test's prefix, and a helper that puts
tasks in each state the way the processor would (dequeue, then retry / archive / ack)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import ClassVar

import pytest
from pydantic import BaseModel

from tandemq.common.broker import Broker
from tandemq.common.clock import now_ms
from tandemq.common.settings import Settings
from tandemq.distributor import Distributor
from tandemq.inspector import Inspector

OWNER = "test-processor"


class Job(BaseModel):
    tandemq_type: ClassVar[str] = "tests.job"
    n: int
    note: str = ""


@pytest.fixture
async def inspector(
    redis_url: str, prefix: str, cluster_nodes: str | None, broker: Broker
) -> AsyncIterator[Inspector]:
    """On the session's cluster under TANDEMQ_TEST_CLUSTER=1, as the root fixtures are."""
    s = Settings.load(env=False, redis_url=redis_url, prefix=prefix, cluster_nodes=cluster_nodes)
    async with Inspector(settings=s) as i:
        yield i


class Seeder:
    """Puts tasks of queue ``q`` into a given state through the real scripts."""

    def __init__(self, distributor: Distributor, broker: Broker) -> None:
        self.d = distributor
        self.broker = broker

    async def pending(self, queue: str, n: int = 1, **options: object) -> list[str]:
        ids = []
        for i in range(n):
            info = await self.d.send(Job(n=i), queue=queue, **options)  # type: ignore[arg-type]
            ids.append(info.id)
        return ids

    async def scheduled(self, queue: str) -> str:
        return (await self.d.send(Job(n=0), queue=queue, process_in=timedelta(hours=1))).id

    async def _leased(self, queue: str, **options: object) -> str:
        (task_id,) = await self.pending(queue, **options)
        taken, _ = await self.broker.dequeue({queue: 1}, OWNER, 60_000)
        assert [t.id for t in taken[queue]] == [task_id]
        return task_id

    async def active(self, queue: str) -> str:
        return await self._leased(queue)

    async def retry(self, queue: str, error: str = "ValueError: try again") -> str:
        task_id = await self._leased(queue)
        assert await self.broker.retry(queue, task_id, OWNER, now_ms() + 3_600_000, error)
        return task_id

    async def archived(self, queue: str, error: str = "Traceback\nValueError: gave up") -> str:
        task_id = await self._leased(queue, max_retry=0)
        assert await self.broker.archive(queue, task_id, OWNER, error)
        return task_id

    async def completed(self, queue: str) -> str:
        task_id = await self._leased(queue, retention=timedelta(hours=1))
        assert await self.broker.ack(OWNER, {queue: [task_id]}) == []
        return task_id


@pytest.fixture
def seed(distributor: Distributor, broker: Broker) -> Seeder:
    return Seeder(distributor, broker)
