"""examples/signup end to end, as a user runs it: the web app and the worker (processor with
the outbox relay inside) as real processes on a SQLite file, driven over HTTP."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from tandemq import Distributor, TaskInfo, TaskState
from tests.support import eventually, free_port, subprocess_env

ROOT = Path(__file__).resolve().parent.parent


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args], cwd=ROOT, env=env, stdout=out, stderr=out
        )


@pytest.fixture
def signup_env(redis: Redis, redis_url: str, prefix: str, tmp_path: Path) -> dict[str, str]:
    return subprocess_env(
        REDIS_URL=redis_url,
        TANDEMQ_PREFIX=prefix,
        TANDEMQ_LOG_FORMAT="json",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'signup.db'}",
        SIGNUP_VERIFY_DELAY_SECONDS="3",  # the example's 10 s, shortened for the test
    )


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


async def _up(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/healthz")).status_code == 200
    except httpx.TransportError:
        return False


async def test_signup_creates_the_user_and_one_verify_email_task_through_the_outbox(
    signup_env: dict[str, str],
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    distributor: Distributor,
) -> None:
    port, log = free_port(), tmp_path / "signup.log"
    app = ["uvicorn", "examples.signup.app:app", "--port", str(port)]
    processes.append(_start(app, signup_env, log))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        await eventually(lambda: _up(client), bool, timeout=60, every=0.1)
        # No worker yet: the user is created and its task waits in the outbox table.
        reply = await client.post("/signup", json={"email": "ada@example.com", "name": "Ada"})
        assert reply.status_code == 201, reply.text
        user_id, task_id = reply.json()["user_id"], reply.json()["verify_task_id"]
        duplicate = await client.post("/signup", json={"email": "ada@example.com", "name": "A"})
        assert duplicate.status_code == 409  # rolled back: no second user, no second task
        assert await distributor.get_task(task_id, queue="critical") is None

        worker = ["tandemq", "run", "examples.signup.worker:make_processor"]
        processes.append(_start(worker, signup_env, log))

        async def task() -> TaskInfo | None:
            return await distributor.get_task(task_id, queue="critical")

        relayed = await eventually(task, lambda t: t is not None, timeout=60)
        assert relayed is not None
        assert (relayed.state, relayed.max_retry) == (TaskState.SCHEDULED, 10)

        async def verification_emails() -> int:
            return int((await client.get(f"/users/{user_id}")).json()["verification_emails"])

        assert await eventually(verification_emails, lambda n: n > 0, timeout=60) == 1
    assert "verify_email.sent" in log.read_text()
