"""Fixtures: one real redis-server per test session (ours, on a free port, unless
TANDEMQ_TEST_REDIS_URL names one), and a key prefix of its own for every test, deleted after."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from redis.asyncio import Redis

from tandemq.common import errors
from tandemq.common.broker import Broker
from tandemq.common.keys import Keys
from tandemq.common.settings import Settings
from tandemq.common.transport import wire_enabled
from tandemq.distributor import Distributor
from tandemq.processor import Processor, RetryDelay
from tests.support import RedisServer

ProcessorFactory = Callable[..., Awaitable[Processor]]

# A background component that fails with an error tandemq does not raise on purpose is a bug
# it survives (processor/periodic.py logs it and backs off): no test may pass with one.
_CRASH = re.compile(r"component\.failed.*error=(\w+)\(")
_TANDEMQ_ERRORS = {name for name, value in vars(errors).items() if isinstance(value, type)}


@pytest.fixture(autouse=True)
def _no_component_crashed(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    yield
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    crashes = [
        r.getMessage()
        for r in records
        if (found := _CRASH.search(r.getMessage())) and found[1] not in _TANDEMQ_ERRORS
    ]
    assert not crashes, f"a background component failed with a bug: {crashes[0][:500]}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """TANDEMQ_WIRE=off runs the suite on the redis-py path (as TLS users do): the tests of
    the pipelining connection itself have nothing to test there."""
    if wire_enabled():
        return
    skip = pytest.mark.skip(reason="TANDEMQ_WIRE=off: no pipelining connection to test")
    for item in items:
        if item.get_closest_marker("wire") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    given = os.environ.get("TANDEMQ_TEST_REDIS_URL")
    if given:
        yield given
        return
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def cluster_nodes() -> Iterator[str | None]:
    """TANDEMQ_TEST_CLUSTER=1: the fixtures below run on a 3+3 Redis Cluster of the session's
    own (tests/topologies/cluster.py) instead of one Redis; None otherwise."""
    if os.environ.get("TANDEMQ_TEST_CLUSTER") != "1":
        yield None
        return
    from tests.topologies.cluster import Cluster  # noqa: PLC0415 - only in that mode

    cluster = Cluster().start()
    try:
        yield cluster.nodes
    finally:
        cluster.stop()


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def redis_env(redis_url: str, prefix: str, cluster_nodes: str | None) -> dict[str, str]:
    """The environment that points a subprocess (a ``tandemq`` command, a daemon) at the
    test's store: its Redis or, under TANDEMQ_TEST_CLUSTER=1, the session's cluster."""
    env = {"REDIS_URL": redis_url, "TANDEMQ_PREFIX": prefix}
    if cluster_nodes:
        env["TANDEMQ_CLUSTER_NODES"] = cluster_nodes
    return env


@pytest.fixture
async def redis(redis_url: str, prefix: str, cluster_nodes: str | None) -> AsyncIterator[Redis]:
    if cluster_nodes:
        client = Settings.load(env=False, cluster_nodes=cluster_nodes).redis_options().client()
    else:
        client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start : start + 1000])
        await client.aclose()


@pytest.fixture
async def broker(redis: Redis, prefix: str) -> Broker:
    b = Broker(redis, Keys(prefix))
    await b.load_scripts()
    return b


@pytest.fixture
async def distributor(
    redis: Redis, redis_url: str, prefix: str, cluster_nodes: str | None
) -> AsyncIterator[Distributor]:
    s = Settings.load(env=False, redis_url=redis_url, prefix=prefix, cluster_nodes=cluster_nodes)
    async with Distributor(settings=s) as d:
        yield d


@pytest.fixture
async def make_processor(
    redis: Redis, redis_url: str, prefix: str, cluster_nodes: str | None
) -> AsyncIterator[ProcessorFactory]:
    """``p = await make_processor(queues=..., concurrency=...)`` (any Settings field, plus
    retry_delay): configured, not started;
    every processor made is shut down at the end of the test."""

    # Each shutdown registered on the stack, not awaited in a loop: one that fails still
    # lets the others run (the stack calls every callback, then raises the first error).
    async with AsyncExitStack() as stack:

        async def make(retry_delay: RetryDelay | None = None, **options: Any) -> Processor:
            options.setdefault("queues", {"default": 1})
            options.setdefault("cluster_nodes", cluster_nodes)
            settings = Settings.load(env=False, redis_url=redis_url, prefix=prefix, **options)
            p = Processor(settings=settings, retry_delay=retry_delay)
            stack.push_async_callback(p.shutdown)
            return p

        yield make
