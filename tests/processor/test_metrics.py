"""The processor's ops port (TANDEMQ_METRICS_PORT): Prometheus metrics from real task runs,
and the /healthz and /readyz probes against a real Redis that goes away."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from datetime import timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

from tandemq.common.registry import type_name
from tandemq.common.settings import Settings
from tandemq.common.task import TaskInfo
from tandemq.distributor import Distributor
from tandemq.processor import Processor, SkipRetry, TaskContext
from tandemq.processor.health import Health
from tests.conftest import ProcessorFactory
from tests.support import RedisServer, eventually, free_port, subprocess_env


class Job(BaseModel):
    outcome: str  # ok | retry | skip


def _fast(retried: int, error: BaseException, task: TaskInfo) -> timedelta:
    return timedelta(milliseconds=5)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


async def _get(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        return await client.get(path)


def _job_processor(p: Processor) -> Processor:
    @p.handler(Job)
    async def job(task: Job, ctx: TaskContext) -> None:
        if task.outcome == "skip":
            raise SkipRetry("no point")
        if task.outcome == "retry" and ctx.retried == 0:
            raise ValueError("first attempt fails")

    return p


async def test_ops_port_is_off_by_default(make_processor: ProcessorFactory) -> None:
    p = await make_processor()
    async with p:
        assert p.ops_port is None
    assert Settings.load(env=False).metrics_port is None


async def test_metrics_count_outcomes_per_queue_and_type(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    p = _job_processor(
        await make_processor(metrics_port=0, metrics_host="127.0.0.1", retry_delay=_fast)
    )
    async with p:
        assert p.ops_port is not None
        for outcome in ("ok", "ok", "retry", "skip"):
            await distributor.send(Job(outcome=outcome), max_retry=3)

        async def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            assert p.ops_port is not None
            return _samples((await _get(p.ops_port, "/metrics")).text)

        labels = (("queue", "default"), ("type", type_name(Job)))
        found = await eventually(
            scrape, lambda m: m.get(("tandemq_tasks_processed_total", labels)) == 5
        )
    # 2 ok + retry's two attempts + 1 skip = 5 attempts; 2 of them failed
    assert found[("tandemq_tasks_failed_total", labels)] == 2
    assert found[("tandemq_tasks_retried_total", labels)] == 1
    assert found[("tandemq_tasks_archived_total", labels)] == 1
    assert found[("tandemq_task_duration_seconds_count", labels)] == 5
    inf_bucket = (("le", "+Inf"), *labels)
    assert found[("tandemq_task_duration_seconds_bucket", inf_bucket)] == 5
    assert ("tandemq_tasks_in_flight", ()) in found


async def test_probes_report_live_and_ready(make_processor: ProcessorFactory) -> None:
    p = await make_processor(metrics_port=0, metrics_host="127.0.0.1")
    async with p:
        assert p.ops_port is not None
        live = await _get(p.ops_port, "/healthz")
        assert live.status_code == 200
        assert live.json()["status"] == "ok"
        ready = await eventually(
            lambda: _get(p.ops_port or 0, "/readyz"), lambda r: r.status_code == 200
        )
        assert ready.json()["status"] == "ok"
        missing = await _get(p.ops_port, "/nope")
        assert missing.status_code == 404


async def test_readyz_fails_while_redis_is_away_and_recovers(prefix: str) -> None:
    server = RedisServer().start()
    settings = Settings.load(
        env=False,
        redis_url=server.url,
        prefix=prefix,
        metrics_port=0,
        metrics_host="127.0.0.1",
        redis_retries=0,
    )
    p = Processor(settings=settings)
    try:
        await p.start()
        port = p.ops_port or 0
        await eventually(lambda: _get(port, "/readyz"), lambda r: r.status_code == 200)
        server.stop(keep_data=True)
        down = await eventually(lambda: _get(port, "/readyz"), lambda r: r.status_code == 503)
        assert down.json()["status"] in ("redis unreachable", "not fetching")
        assert (await _get(port, "/healthz")).status_code == 200  # alive: restarting won't help
        server.start()
        await eventually(lambda: _get(port, "/readyz"), lambda r: r.status_code == 200, timeout=15)
    finally:
        await p.shutdown()
        server.stop()


async def _ok() -> None:
    return None


def test_liveness_fails_when_the_loop_lags_or_a_component_died() -> None:
    alive = [True]
    health = Health(_ok, lambda: True, lambda: alive[0], max_loop_lag=1.0)
    assert health.live().ok
    health.loop_lag = 2.5  # what the ticker records after the loop was blocked 2.5 s
    assert health.live().detail["status"] == "loop blocked"
    health.loop_lag = 0.0
    alive[0] = False
    assert health.live().detail["status"] == "component stopped"


async def test_readyz_is_false_once_shutdown_begins() -> None:
    health = Health(_ok, lambda: True, lambda: True)
    assert (await health.ready()).ok
    health.stopping = True
    assert (await health.ready()).detail["status"] == "shutting down"


async def test_queue_gauges_come_from_redis_and_can_be_turned_off(
    make_processor: ProcessorFactory, distributor: Distributor
) -> None:
    for _ in range(2):
        await distributor.send(Job(outcome="ok"), process_in=timedelta(hours=1))
    on = await make_processor(
        metrics_port=0, metrics_host="127.0.0.1", metrics_queue_gauges_interval_seconds=0.05
    )
    off = await make_processor(metrics_port=0, metrics_host="127.0.0.1", metrics_queue_gauges=False)
    async with on, off:

        async def scrape(p: Processor) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            return _samples((await _get(p.ops_port or 0, "/metrics")).text)

        scheduled = ("tandemq_queue_tasks", (("queue", "default"), ("state", "scheduled")))
        found = await eventually(lambda: scrape(on), lambda m: m.get(scheduled) == 2)
        assert found[("tandemq_queue_tasks", (("queue", "default"), ("state", "pending")))] == 0
        assert ("tandemq_queue_oldest_pending_seconds", (("queue", "default"),)) in found
        assert not any(name.startswith("tandemq_queue_") for name, _ in await scrape(off))


async def test_each_supervised_worker_serves_its_own_ops_port(redis_url: str, prefix: str) -> None:
    base = free_port()
    while free_port_at(base + 1) is False:  # the next port must be free as well
        base = free_port()
    env = subprocess_env(
        REDIS_URL=redis_url,
        TANDEMQ_PREFIX=prefix,
        TANDEMQ_METRICS_PORT=str(base),
        TANDEMQ_METRICS_HOST="127.0.0.1",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tandemq", "run", "tests.apps:ledger", "--workers", "2",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for port in (base, base + 1):
            await eventually(lambda p=port: _ready(p), lambda ok: ok, timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0


async def _ready(port: int) -> bool:
    try:
        return (await _get(port, "/readyz")).status_code == 200
    except httpx.TransportError:
        return False


def free_port_at(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
