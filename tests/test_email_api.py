"""examples/email_api end to end, as a user runs it: uvicorn serving the app in a subprocess,
a processor (its own process, or embedded in the app), requests over HTTP, the outbox file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from tests.support import eventually, free_port, subprocess_env

ROOT = Path(__file__).resolve().parent.parent
WORKER = "examples.email_api.worker:make_processor"


@dataclass
class EmailService:
    base_url: str
    outbox: Path
    web: subprocess.Popen[bytes]
    log: Path
    embedded: bool


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args], cwd=ROOT, env=env, stdout=out, stderr=out
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


@pytest.fixture(params=["separate", "embedded"])
def service(
    request: pytest.FixtureRequest, redis: Redis, redis_url: str, prefix: str, tmp_path: Path
) -> Iterator[EmailService]:
    """The app on a free port, and its processor (a process of its own, or embedded)."""
    port, outbox, log = free_port(), tmp_path / "outbox.jsonl", tmp_path / "service.log"
    env = subprocess_env(
        REDIS_URL=redis_url,
        TANDEMQ_PREFIX=prefix,
        TANDEMQ_LOG_FORMAT="json",
        EMAIL_OUTBOX_FILE=str(outbox),
        EMAIL_API_EMBEDDED_PROCESSOR="1" if request.param == "embedded" else "0",
    )
    procs = []
    if request.param == "separate":
        procs.append(_start(["tandemq", "run", WORKER], env, log))
    web = _start(["uvicorn", "examples.email_api.app:app", "--port", str(port)], env, log)
    procs.append(web)
    try:
        embedded = request.param == "embedded"
        yield EmailService(f"http://127.0.0.1:{port}", outbox, web, log, embedded)
    finally:
        for proc in procs:
            _stop(proc)


async def _up(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/healthz")).status_code == 200
    except httpx.TransportError:
        return False


async def test_emails_posted_are_sent_with_retries_and_their_state_is_served(
    service: EmailService,
) -> None:
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
        await eventually(lambda: _up(client), bool, timeout=60, every=0.1)
        ids = []
        for i in range(6):
            email = {"recipient": f"user{i}@example.com", "subject": f"Hi {i}", "body": "hello"}
            reply = await client.post("/emails", json=email)
            assert reply.status_code == 202, reply.text
            assert reply.json()["state"] == "pending"
            ids.append(reply.json()["id"])

        async def states() -> list[dict[str, object]]:
            return [(await client.get(f"/emails/{i}")).json() for i in ids]

        done = await eventually(
            states, lambda s: all(e["state"] == "completed" for e in s), timeout=90, every=0.2
        )
        assert [e["recipient"] for e in done] == [f"user{i}@example.com" for i in range(6)]
        # every third attempt fails (EMAIL_FAIL_EVERY=3): attempts 3 and 6 at least were retried
        assert sum(int(str(e["retried"])) for e in done) >= 2

        assert (await client.get("/emails/no-such-id")).status_code == 404
        bad = await client.post("/emails", json={"recipient": "nobody", "subject": "", "body": ""})
        assert bad.status_code == 422

    lines = [json.loads(line) for line in service.outbox.read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(ids)  # each email written once


async def test_the_web_server_still_stops_on_sigterm(service: EmailService) -> None:
    """With the processor embedded too, SIGTERM stops uvicorn (the processor leaves the host's
    signal handling alone) and the lifespan's exit shuts the processor down gracefully."""
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
        await eventually(lambda: _up(client), bool, timeout=60, every=0.1)
    service.web.send_signal(signal.SIGTERM)
    code = service.web.wait(60)
    log = service.log.read_text()
    # uvicorn ends by re-raising the signal it handled, so -SIGTERM is its clean exit
    assert code in (0, -signal.SIGTERM), log[-3000:]
    assert "Application shutdown complete" in log
    if service.embedded:  # the separate processor is still running: only uvicorn was stopped
        assert "processor.stopped" in log
