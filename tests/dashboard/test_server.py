"""``tandemq dashboard`` and ``tandemq metrics`` as an operator starts them: real processes on
free ports, the test's Redis and prefix from the environment, stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx

from tandemq.distributor import Distributor
from tests.cli.support import ROOT, TANDEMQ, tandemq
from tests.dashboard.conftest import Job
from tests.support import eventually, free_port, subprocess_env


@asynccontextmanager
async def _serving(*args: str, **env: str) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        str(TANDEMQ), *args, cwd=ROOT, env=subprocess_env(**env),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)


async def _get(url: str, **headers: str) -> httpx.Response | None:
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            return await client.get(url, headers=headers)
    except httpx.TransportError:
        return None  # not listening yet


async def test_dashboard_command_serves_the_cli_objects_behind_a_token(
    redis_env: dict[str, str], distributor: Distributor
) -> None:
    await distributor.send(Job(n=1), queue="mail", process_in=timedelta(hours=1))
    env = redis_env
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with _serving(
        "dashboard", "--port", str(port), "--read-only", TANDEMQ_DASHBOARD_TOKEN="s3", **env
    ) as proc:
        auth = {"Authorization": "Bearer s3"}
        got = await eventually(
            lambda: _get(base + "/api/queues", **auth), lambda r: r is not None, 30
        )
        assert got is not None and got.status_code == 200
        cli = await tandemq("queues", "--json", **env)
        assert got.json()[0]["scheduled"] == json.loads(cli.out)[0]["scheduled"] == 1
        assert got.json() == json.loads(cli.out)  # nothing pending: no age that moves
        refused = await _get(base + "/api/queues")
        assert refused is not None and refused.status_code == 401
    assert proc.returncode == 0


async def test_metrics_command_exports_queue_gauges_of_every_queue(
    redis_env: dict[str, str], distributor: Distributor
) -> None:
    for queue in ("mail", "reports"):
        await distributor.send(Job(n=1), queue=queue, process_in=timedelta(hours=1))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**redis_env, "TANDEMQ_METRICS_QUEUE_GAUGES_INTERVAL_SECONDS": "0.1"}
    async with _serving("metrics", "--host", "127.0.0.1", "--port", str(port), **env) as proc:
        wanted = 'tandemq_queue_tasks{queue="reports",state="scheduled"} 1.0'
        got = await eventually(
            lambda: _get(base + "/metrics"), lambda r: r is not None and wanted in r.text, 30
        )
        assert got is not None
        assert 'tandemq_queue_tasks{queue="mail",state="scheduled"} 1.0' in got.text
        assert "tandemq_tasks_processed_total" not in got.text  # gauges only
        ready = await _get(base + "/readyz")
        assert ready is not None and ready.status_code == 200
    assert proc.returncode == 0
