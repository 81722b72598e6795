"""The daemon's entry points: bad targets and bad settings fail at start with a clear message."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tandemq.processor.supervisor import _exit_code
from tests.support import free_port, subprocess_env

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tandemq", *args],
        cwd=ROOT,
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_bad_environment_value_names_the_variable() -> None:
    result = _run("tests.apps:ledger", TANDEMQ_CONCURRENCY="lots", TANDEMQ_PREFIX="x")
    assert result.returncode == 2
    assert "TANDEMQ_CONCURRENCY='lots'" in result.stderr


def test_bad_queue_spec_names_the_variable() -> None:
    result = _run("tests.apps:ledger", TANDEMQ_QUEUES="critical=6,low=x", TANDEMQ_PREFIX="x")
    assert result.returncode == 2
    assert "TANDEMQ_QUEUES" in result.stderr


def test_target_that_is_not_a_processor_is_refused() -> None:
    result = _run("tests.apps:Work")
    assert result.returncode == 2
    assert "not a tandemq Processor" in result.stderr


def test_missing_module_is_refused() -> None:
    result = _run("no_such_module:app")
    assert result.returncode == 2
    assert "cannot import 'no_such_module'" in result.stderr


def test_console_script_runs_the_same_entry() -> None:
    tandemq = Path(sys.executable).with_name("tandemq")
    result = subprocess.run(
        [str(tandemq), "run", "no_such_module:app"],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "cannot import" in result.stderr


def test_supervisor_exit_code_reports_a_worker_killed_by_a_signal() -> None:
    assert _exit_code([0, 0]) == 0
    assert _exit_code([0, -9]) == 137  # SIGKILLed: was max(0, -9) == 0, a clean exit
    assert _exit_code([1, 0]) == 1


def test_sigterm_while_waiting_for_redis_at_start_is_a_clean_stop() -> None:
    """A daemon started before its Redis waits for it; stopping it then is not a failure."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tandemq", "tests.apps:ledger"],
        cwd=ROOT,
        env=subprocess_env(
            REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
            TANDEMQ_PREFIX="x",
            TANDEMQ_LOG_FORMAT="json",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # wait until it is retrying, signal handlers in place
            if b'"step": "start"' in line or b'"step":"start"' in line:
                break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
