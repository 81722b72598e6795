"""A processor embedded in a host process (a web app's lifespan, an asyncio program) leaves
the host's signal handling alone: the host stops on its own SIGTERM, and the processor shuts
down gracefully with it (the running handler finishes, nothing stays leased)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tandemq.common.keys import Keys
from tandemq.distributor import Distributor
from tandemq.processor.signals import signals_to_handle
from tests.apps import Work
from tests.support import eventually, free_port, subprocess_env

ROOT = Path(__file__).resolve().parents[2]


def _host(redis_url: str, prefix: str, mode: str, *args: str) -> subprocess.Popen[bytes]:
    env = subprocess_env(REDIS_URL=redis_url, TANDEMQ_PREFIX=prefix, EMBED_MODE=mode)
    cmd = [sys.executable, "-m", "tests.embed_host", *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


async def _sigterm_mid_task(
    host: subprocess.Popen[bytes], redis: Redis, prefix: str, distributor: Distributor
) -> tuple[int, str, str]:
    """Send a 1 s task, SIGTERM the host while it runs; the host's exit code and output."""
    info = await distributor.send(Work(n=1, sleep=1.0))
    await eventually(lambda: redis.hexists(f"{prefix}:started", info.id), bool, timeout=20)
    host.send_signal(signal.SIGTERM)
    out, err = await asyncio.to_thread(host.communicate, timeout=30)
    assert await redis.hget(f"{prefix}:ledger", info.id) == b"1"  # finished, not cut off
    assert await redis.zcard(Keys(prefix).queue("default").active) == 0
    return host.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("mode", ["context", "task"])
async def test_uvicorn_app_stops_on_sigterm_with_the_processor_in_its_lifespan(
    mode: str, redis: Redis, redis_url: str, prefix: str, distributor: Distributor
) -> None:
    port = free_port()
    host = _host(redis_url, prefix, mode, str(port))
    try:
        await eventually(lambda: asyncio.to_thread(_healthy, port), bool, timeout=30, every=0.1)
        code, out, err = await _sigterm_mid_task(host, redis, prefix, distributor)
    finally:
        if host.poll() is None:
            host.kill()
    # uvicorn re-raises the signal it caught once it has shut down: -SIGTERM is its clean exit
    assert code == -signal.SIGTERM, err
    assert "Application shutdown complete" in err  # uvicorn's own shutdown ran, lifespan too
    assert "processor.stopped" in out


async def test_asyncio_host_keeps_its_own_sigterm_handler(
    redis: Redis, redis_url: str, prefix: str, distributor: Distributor
) -> None:
    host = _host(redis_url, prefix, "task", "plain")
    try:
        assert host.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(host.stdout.readline), 30)
        assert line == b"host.ready\n"
        code, out, err = await _sigterm_mid_task(host, redis, prefix, distributor)
    finally:
        if host.poll() is None:
            host.kill()
    assert code == 0, err
    # the host's handler ran (not the processor's), then the processor stopped, then the host
    order = [out.find(e) for e in ("host.got_sigterm", "processor.stopped", "host.stopped")]
    assert -1 not in order and order == sorted(order), out


async def test_run_without_a_host_still_stops_on_sigterm(
    redis: Redis, redis_url: str, prefix: str, distributor: Distributor
) -> None:
    """``asyncio.run(processor.run())``: nobody else handles SIGTERM, so run() does."""
    host = _host(redis_url, prefix, "task", "standalone")
    try:
        assert host.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(host.stdout.readline), 30)
        assert line == b"host.ready\n"
        code, out, err = await _sigterm_mid_task(host, redis, prefix, distributor)
    finally:
        if host.poll() is None:
            host.kill()
    assert code == 0, err
    assert -1 < out.find("processor.stopped") < out.find("host.stopped"), out


def test_signals_to_handle_leaves_a_hosts_handlers_alone() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        assert signals_to_handle(None) == [signal.SIGTERM, signal.SIGINT]
        signal.signal(signal.SIGTERM, lambda *_: None)  # a host's own
        assert signals_to_handle(None) == [signal.SIGINT]
        assert signals_to_handle(True) == [signal.SIGTERM, signal.SIGINT]
        assert signals_to_handle(False) == []
    finally:
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGINT, before[1])
