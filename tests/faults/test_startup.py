"""Issue 10, items 1 and 6: start-up refuses what would lose tasks or retry forever, says why
(naming the setting, the policy or the command), and never prints the password.

Each case runs the real daemon (``python -m tandemq tests.apps:ledger``) against a Redis
server of its own."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from tandemq.common.errors import ConfigError
from tandemq.common.keys import Keys
from tandemq.common.settings import Settings
from tandemq.distributor import Distributor
from tests.apps import Work
from tests.faults.harness import ROOT, Scenario
from tests.support import RedisServer, eventually, free_port, subprocess_env

PASSWORD = "pw-" + uuid.uuid4().hex  # grepped for in every line of output


def _daemon(
    url: str, *args: str, timeout: float = 30, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the daemon until it exits by itself; its whole output."""
    return subprocess.run(
        [sys.executable, "-m", "tandemq", *args, "tests.apps:ledger"],
        cwd=ROOT,
        env=subprocess_env(REDIS_URL=url, TANDEMQ_LOG_FORMAT="json", **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _no_secret(output: str) -> None:
    assert PASSWORD not in output
    assert "Traceback" not in output


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A Redis that requires PASSWORD (set after start: the harness' readiness probe does not
    authenticate)."""
    s = RedisServer().start()
    with SyncRedis.from_url(s.url) as admin:
        admin.config_set("requirepass", PASSWORD)
    yield s
    s.stop()


def _url(server: RedisServer, password: str = PASSWORD, db: str = "0") -> str:
    return f"redis://:{password}@127.0.0.1:{server.port}/{db}"


# -- item 1: eviction --------------------------------------------------------------------------


async def test_an_allkeys_eviction_policy_is_refused_by_both_sides_unless_allowed() -> None:
    server = RedisServer(extra=("--maxmemory", "20mb", "--maxmemory-policy", "allkeys-lru")).start()
    try:
        done = _daemon(server.url)
        assert done.returncode == 2, done.stderr
        assert "allkeys-lru" in done.stderr and "TANDEMQ_ALLOW_EVICTION" in done.stderr
        with pytest.raises(ConfigError, match="allkeys-lru"):
            async with Distributor(redis_url=server.url, prefix="evict"):
                pass
        allowed = Settings.load(env=False, redis_url=server.url, allow_eviction=True)
        async with Distributor(settings=allowed) as distributor:
            await distributor.send(Work(n=1))
        run = Scenario(server)
        proc = run.start_processor(TANDEMQ_ALLOW_EVICTION="true")
        await run.ready(proc)
        assert '"redis.eviction_possible"' in run.logs()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        server.stop()


async def test_a_volatile_policy_warns_which_keys_may_vanish() -> None:
    server = RedisServer(extra=("--maxmemory-policy", "volatile-lru")).start()
    try:
        run = Scenario(server)
        proc = run.start_processor()
        await run.ready(proc)
        line = next(
            json.loads(x) for x in run.logs().splitlines() if '"redis.eviction_possible"' in x
        )
        assert "unique locks" in line["detail"]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        server.stop()


async def test_task_data_vanishing_under_pending_ids_is_logged_once_not_per_task() -> None:
    server = RedisServer().start()
    try:
        run = Scenario(server)
        async with Distributor(redis_url=server.url, prefix=run.prefix) as distributor:
            infos = await distributor.send_many([Work(n=i) for i in range(500)])
            for info in infos[:300]:  # hashes under bare ids, as tasks sent with task_id= are
                await distributor._broker.find_envelope("default", info.id, pin=True)
        client = Redis.from_url(server.url)
        qk = Keys(run.prefix).queue("default")
        await client.delete(*[qk.task(i.id) for i in infos[:300]])  # as an eviction would
        proc = run.start_processor()
        await eventually(
            lambda: client.hlen(f"{run.prefix}:ledger"), lambda n: n >= 200, timeout=60
        )
        await eventually(lambda: client.llen(qk.pending), lambda n: n == 0, timeout=30)
        logs = _full_logs(run)
        lines = [json.loads(x) for x in logs.splitlines() if '"tasks.vanished"' in x]
        # One line for 300 vanished tasks (the first batch's count; the rest wait for the next
        # interval, a minute later), instead of 300 lines.
        assert len(lines) == 1 and lines[0]["counts"]["default"] >= 1
        assert '"task.missing"' not in logs
        await client.aclose()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        server.stop()


def _full_logs(run: Scenario) -> str:
    return "\n".join(p.read_text() for p in Path(run.server.dir).glob("processor-*.log"))


# -- item 6: start-up, configuration, secrets ----------------------------------------------------


def test_a_wrong_password_exits_2_at_once_without_printing_it(server: RedisServer) -> None:
    wrong = PASSWORD + "-wrong"
    done = _daemon(_url(server, wrong))
    assert done.returncode == 2, done.stderr
    assert "refused the login" in done.stderr and "REDIS_URL" in done.stderr
    assert wrong not in done.stdout + done.stderr
    _no_secret(done.stdout + done.stderr)


@pytest.mark.parametrize(
    ("rules", "command"), [(("&*", "-evalsha"), "evalsha"), (("resetchannels",), "publish")]
)
def test_a_missing_acl_permission_exits_2_naming_the_command(
    rules: tuple[str, ...], command: str
) -> None:
    server = RedisServer().start()
    try:
        user = "tq-limited"
        with SyncRedis.from_url(server.url) as admin:
            admin.execute_command(
                "ACL", "SETUSER", user, "on", f">{PASSWORD}", "~*", "+@all", *rules
            )
        done = _daemon(f"redis://{user}:{PASSWORD}@127.0.0.1:{server.port}/0")
        assert done.returncode == 2, done.stderr
        assert command in done.stderr.lower() and "ACL" in done.stderr
        _no_secret(done.stdout + done.stderr)
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("db", "port_ok", "expected"),
    [("0", False, "port"), ("abc", True, "database"), ("99", True, "database")],
)
def test_a_malformed_redis_url_exits_2_naming_the_variable(
    server: RedisServer, db: str, port_ok: bool, expected: str
) -> None:
    url = _url(server, db=db) if port_ok else f"redis://:{PASSWORD}@127.0.0.1:99999/{db}"
    done = _daemon(url)
    assert done.returncode == 2, done.stderr
    assert "REDIS_URL" in done.stderr and expected in done.stderr
    _no_secret(done.stdout + done.stderr)


async def test_no_password_in_any_output_of_a_run(server: RedisServer, tmp_path: Path) -> None:
    """A normal run (tasks, SIGTERM) and one whose Redis is unreachable: grep everything."""
    prefix = f"pw-{uuid.uuid4().hex[:8]}"
    normal = await _run_and_stop(_url(server), prefix, tmp_path / "normal.log", tasks=20)
    dead = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    unreachable = await _run_and_stop(dead, prefix, tmp_path / "dead.log", tasks=0)
    assert '"processor.started"' in normal and '"redis.unavailable"' in unreachable
    for output in (normal, unreachable):
        assert PASSWORD not in output


async def _run_and_stop(url: str, prefix: str, out: Path, tasks: int) -> str:
    """Run the daemon (all output to ``out``): until ``tasks`` tasks ran, or, with none, until
    it logged that Redis is unavailable; then SIGTERM. Returns the output."""
    env = subprocess_env(
        REDIS_URL=url, TANDEMQ_PREFIX=prefix, TANDEMQ_LOG_LEVEL="DEBUG", TANDEMQ_LOG_FORMAT="json"
    )
    with out.open("wb") as sink:
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited
            [sys.executable, "-m", "tandemq", "tests.apps:ledger"],
            cwd=ROOT, env=env, stdout=sink, stderr=sink,
        )  # fmt: skip
        if tasks:
            async with Distributor(redis_url=url, prefix=prefix) as distributor:
                await distributor.send_many([Work(n=i) for i in range(tasks)])
            client = Redis.from_url(url)
            await eventually(
                lambda: client.hlen(f"{prefix}:ledger"), lambda n: n >= tasks, timeout=30
            )
            await client.aclose()
        else:
            await eventually(lambda: _logged(out, "redis.unavailable"), bool, timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    return out.read_text()  # noqa: ASYNC240 - a small local file


async def _logged(path: Path, event: str) -> bool:
    return f'"{event}"' in path.read_text()  # noqa: ASYNC240 - a small local file


async def test_workers_exit_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    server = RedisServer().start()
    out = tmp_path / "supervisor.log"
    try:
        with out.open("wb") as sink:
            supervisor = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited
                [sys.executable, "-m", "tandemq", "run", "--workers", "2", "tests.apps:ledger"],
                cwd=ROOT,
                env=subprocess_env(REDIS_URL=server.url, TANDEMQ_PREFIX="sup", TANDEMQ_LOG_FORMAT="json"),
                stdout=sink, stderr=sink,
            )  # fmt: skip
            started = await eventually(lambda: _workers(out), lambda w: len(w) == 2, timeout=30)
            await eventually(lambda: _count(out, "processor.started"), lambda n: n == 2, timeout=30)
            supervisor.send_signal(signal.SIGKILL)
            supervisor.wait(10)
            await eventually(lambda: _alive(started), lambda alive: alive == [], timeout=30)
    finally:
        server.stop()


async def _workers(path: Path) -> list[int]:
    for line in path.read_text().splitlines():  # noqa: ASYNC240
        if '"supervisor.started"' in line:
            return list(json.loads(line)["workers"])
    return []


async def _count(path: Path, event: str) -> int:
    return path.read_text().count(f'"{event}"')  # noqa: ASYNC240


async def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]  # noqa: ASYNC240
        except (ProcessLookupError, FileNotFoundError):
            continue
        if state != "Z":  # a zombie has exited: only its parent (gone) could reap it
            alive.append(pid)
    return alive
