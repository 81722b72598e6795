"""The fault-injection harness: a Redis server of the scenario's own (own port, own data dir,
AOF if asked), real ``python -m processor`` daemons it can SIGKILL or SIGTERM, and the ledger
the handlers keep in Redis (see tests/apps.py) to count lost and duplicated tasks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis

from tandemq.common.connection import create_redis
from tandemq.common.keys import Keys, QueueKeys
from tandemq.distributor import Distributor
from tests.support import RedisServer, eventually, subprocess_env

ROOT = Path(__file__).resolve().parents[2]
AOF_ALWAYS = ("--appendonly", "yes", "--appendfsync", "always")


@dataclass
class Verdict:
    """What the ledger says about a set of sent task ids."""

    sent: int
    lost: list[str]
    duplicated: int
    early: int

    def line(self, scenario: str, injected: str) -> str:
        return (
            f"FAULTS {scenario}: n={self.sent} injected={injected} lost={len(self.lost)}"
            f" duplicated={self.duplicated} early={self.early}"
        )


@dataclass
class Scenario:
    server: RedisServer
    prefix: str = field(default_factory=lambda: f"faults-{uuid.uuid4().hex[:8]}")
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def queue(self) -> QueueKeys:
        return Keys(self.prefix).queue("default")

    def start_processor(
        self, app: str = "ledger", url: str | None = None, *args: str, **env: str
    ) -> subprocess.Popen[bytes]:
        settings = {
            "REDIS_URL": url or self.url,
            "LEDGER_REDIS_URL": self.url,
            "TANDEMQ_PREFIX": self.prefix,
            "TANDEMQ_LOG_LEVEL": "INFO",
            "TANDEMQ_LOG_FORMAT": "json",
            **env,
        }
        log = open(self._log_path(len(self.procs)), "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "tandemq", f"tests.apps:{app}", *args],
            cwd=ROOT,
            env=subprocess_env(**settings),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        self.procs.append(proc)
        return proc

    def _log_path(self, index: int) -> str:
        return os.path.join(self.server.dir, f"processor-{index}.log")

    async def ready(self, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
        """Wait until ``proc`` has logged processor.started (its signal handlers are set)."""
        path = Path(self._log_path(self.procs.index(proc)))

        async def started() -> bool:
            return path.exists() and b'"processor.started"' in path.read_bytes()  # noqa: ASYNC240

        await eventually(started, bool, timeout=timeout)

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:]
            for p in Path(self.server.dir).glob("processor-*.log")
        )

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)

    async def counts(self, client: Redis, suffix: str) -> dict[str, int]:
        raw = await client.hgetall(f"{self.prefix}:{suffix}")
        return {k.decode(): int(v) for k, v in raw.items()}

    async def verdict(self, client: Redis, ids: set[str]) -> Verdict:
        done = await self.counts(client, "ledger")
        early = await self.counts(client, "early")
        return Verdict(
            sent=len(ids),
            lost=sorted(ids - set(done)),
            duplicated=sum(n - 1 for i, n in done.items() if i in ids),
            early=sum(early.values()),
        )


@asynccontextmanager
async def scenario(*server_args: str) -> AsyncIterator[tuple[Scenario, Redis, Distributor]]:
    """A fresh Redis server (ours: deleted afterwards), a client for the ledger, a distributor."""
    server = RedisServer(extra=server_args).start()
    run = Scenario(server)
    client = create_redis(server.url, retries=10)
    try:
        async with Distributor(redis_url=server.url, prefix=run.prefix) as distributor:
            yield run, client, distributor
    finally:
        run.stop_all()
        await client.aclose()
        server.stop()


async def hold_writes(url: str, blocked: int) -> None:
    """Pause the server's writes (CLIENT PAUSE WRITE) until ``blocked`` connections wait on
    one: sends are then certainly in flight (written to Redis, not run) when a kill lands.
    A kill's timing alone can miss every send: on 2 cores Redis has often answered all that
    was written before the killing thread runs, and the senders meet only refused connects."""
    client = Redis.from_url(url)
    try:
        await client.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")
        await eventually(
            lambda: client.info("clients"),
            lambda info: int(info["blocked_clients"]) >= blocked,
            timeout=30,
        )
    finally:
        await client.aclose()
