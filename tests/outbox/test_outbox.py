"""The transactional outbox on SQLite and PostgreSQL: a task reaches Redis only if the
caller's transaction commits, with the row id as its task id, and a relay killed between the
Redis write and the row delete still leaves exactly one task per row."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.errors import InvalidSendOptions, PayloadTooLarge
from tandemq.common.keys import Keys
from tandemq.common.settings import Settings
from tandemq.distributor import Distributor, TaskState
from tandemq.outbox import Outbox, Relay
from tests.outbox.conftest import Database, row_count
from tests.support import eventually, subprocess_env

ROOT = Path(__file__).resolve().parents[2]


class VerifyEmail(BaseModel):
    user_id: int
    email: str


def relay_for(db: Database, redis_url: str, prefix: str, **options: object) -> Relay:
    settings = Settings.load(env=False, redis_url=redis_url, prefix=prefix)
    return Relay(db.engine, db.outbox, settings=settings, **options)  # type: ignore[arg-type]


async def send_rows(db: Database, n: int, queue: str = "default") -> list[str]:
    ids = []
    async with db.engine.begin() as conn:
        for i in range(n):
            ids.append(await db.outbox.send(conn, VerifyEmail(user_id=i, email=f"u{i}@x.io"), queue=queue))  # fmt: skip
    return ids


async def tasks_in_redis(redis: Redis, prefix: str, queue: str = "default") -> list[str]:
    """Every id in the queue's pending list (duplicates kept), checked against task hashes."""
    keys = Keys(prefix).queue(queue)
    ids = [i.decode() for i in await redis.lrange(keys.pending, 0, -1)]
    for task_id in set(ids):
        assert await redis.exists(keys.task(task_id)), task_id
    return ids


async def test_committed_send_becomes_a_task_with_the_row_id(
    db: Database, redis_url: str, prefix: str, distributor: Distributor
) -> None:
    sent_at = datetime.now(UTC)
    async with db.engine.begin() as conn:
        now_id = await db.outbox.send(
            conn,
            VerifyEmail(user_id=1, email="a@x.io"),
            max_retry=10,
            result_ttl=timedelta(hours=2),
        )
        later_id = await db.outbox.send(
            conn,
            VerifyEmail(user_id=2, email="b@x.io"),
            queue="critical",
            process_in=timedelta(seconds=30),
        )
    async with relay_for(db, redis_url, prefix) as relay:
        assert await relay.drain() == 2
    assert await row_count(db) == 0
    now = await distributor.get_task(now_id)
    assert now is not None and now.state == TaskState.PENDING
    assert (now.payload, now.max_retry) == ({"user_id": 1, "email": "a@x.io"}, 10)
    assert now.result_ttl == timedelta(hours=2)
    later = await distributor.get_task(later_id, queue="critical")
    assert later is not None and later.state == TaskState.SCHEDULED
    assert later.next_process_at is not None  # counted from the send, not from the relay
    assert sent_at + timedelta(seconds=29) <= later.next_process_at <= sent_at + timedelta(seconds=31)  # fmt: skip


async def test_rolled_back_transaction_sends_nothing(
    db: Database, redis_url: str, prefix: str, redis: Redis
) -> None:
    async with db.engine.connect() as conn:
        transaction = await conn.begin()
        task_id = await db.outbox.send(conn, VerifyEmail(user_id=1, email="a@x.io"))
        await transaction.rollback()
    async with relay_for(db, redis_url, prefix) as relay:
        assert await relay.drain() == 0
    assert await tasks_in_redis(redis, prefix) == []
    assert not await redis.exists(Keys(prefix).queue("default").task(task_id))


async def test_bad_options_and_payloads_are_refused_before_the_database(db: Database) -> None:
    limited = Settings.load(env=False, max_payload_bytes=10)
    small = Outbox(db.outbox.table.name, schema=db.schema, settings=limited)
    async with db.engine.begin() as conn:
        with pytest.raises(InvalidSendOptions, match="queue"):
            await db.outbox.send(conn, VerifyEmail(user_id=1, email="a"), queue="{x}")
        with pytest.raises(InvalidSendOptions, match="unique_for"):
            await db.outbox.send(conn, VerifyEmail(user_id=1, email="a"), unique_for=timedelta(1))
        with pytest.raises(InvalidSendOptions, match="pydantic"):
            await db.outbox.send(conn, {"user_id": 1})  # type: ignore[arg-type]
        with pytest.raises(PayloadTooLarge):
            await small.send(conn, VerifyEmail(user_id=1, email="a" * 20))
    assert await row_count(db) == 0


async def test_relay_killed_between_redis_write_and_delete_leaves_one_task_per_row(
    db: Database, redis_url: str, prefix: str, redis: Redis, tmp_path: Path
) -> None:
    ids = await send_rows(db, 25)
    marker = tmp_path / "written"
    relay = start_relay(
        "tests.outbox.faulty_relay",
        [*db.cli_args(), "--batch-size", "10"],
        REDIS_URL=redis_url,
        TANDEMQ_PREFIX=prefix,
        OUTBOX_FAULT_FILE=str(marker),
    )
    try:
        await eventually(lambda: _exists(marker), bool, timeout=30)
        relay.send_signal(signal.SIGKILL)
        relay.wait(10)
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()
    first_batch = marker.read_text().split(",")
    assert len(first_batch) == 10
    assert sorted(await tasks_in_redis(redis, prefix)) == sorted(first_batch)
    assert await row_count(db) == 25  # killed before the delete: every row still there

    async with relay_for(db, redis_url, prefix, batch_size=10) as again:
        assert await again.drain() == 25
    assert (again.stats.sent, again.stats.existed) == (15, 10)
    in_redis = await tasks_in_redis(redis, prefix)
    assert sorted(in_redis) == sorted(ids)  # exactly one task per row, none twice
    assert await row_count(db) == 0


async def test_two_relays_at_once_on_postgresql_give_one_task_per_row(
    db: Database, redis_url: str, prefix: str, redis: Redis
) -> None:
    if db.kind != "postgresql":
        pytest.skip("SQLite has no row locks: run one relay per SQLite database (documented)")
    ids = await send_rows(db, 600)
    args = [*db.cli_args(), "--batch-size", "10", "--once"]
    env = {"REDIS_URL": redis_url, "TANDEMQ_PREFIX": prefix, "TANDEMQ_LOG_FORMAT": "json"}
    relays = [start_relay("tandemq", args, **env) for _ in range(2)]  # `tandemq outbox relay`
    stats = []
    for relay in relays:
        _, err = relay.communicate(timeout=120)
        assert relay.returncode == 0, err.decode()
        stats.append(_stopped_line(err.decode()))
    print("OUTBOX two relays:", stats)
    assert sum(s["sent"] for s in stats) == 600
    assert [s["existed"] for s in stats] == [0, 0]  # SKIP LOCKED: no row claimed twice
    assert sorted(await tasks_in_redis(redis, prefix)) == sorted(ids)
    assert await row_count(db) == 0


async def test_relay_attached_to_a_processor_runs_the_tasks(
    db: Database, make_processor: object, redis_url: str, prefix: str
) -> None:
    import asyncio  # noqa: PLC0415

    from tandemq.processor import TaskContext  # noqa: PLC0415

    processor = await make_processor()  # type: ignore[operator]
    seen: list[tuple[int, str | None]] = []
    done = asyncio.Event()

    @processor.handler(VerifyEmail)
    async def verify(email: VerifyEmail, ctx: TaskContext) -> None:
        seen.append((email.user_id, ctx.headers.get("request_id")))
        if len(seen) == 3:
            done.set()

    relay_for(db, redis_url, prefix, poll_interval=0.05).attach(processor)
    await processor.start()
    async with db.engine.begin() as conn:
        for i in range(3):
            email = VerifyEmail(user_id=i, email=f"u{i}@x.io")
            await db.outbox.send(conn, email, headers={"request_id": f"r{i}"})
    async with asyncio.timeout(30):
        await done.wait()
    assert sorted(seen) == [(0, "r0"), (1, "r1"), (2, "r2")]  # headers travel in the row


@pytest.mark.parametrize("command", [["tandemq", "outbox", "relay"], ["tandemq.outbox", "relay"]])
def test_relay_command_without_a_database_exits_2(command: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "TANDEMQ_OUTBOX_DATABASE_URL" in proc.stderr


def start_relay(
    module: str, args: list[str], log: Path | None = None, **env: str
) -> subprocess.Popen[bytes]:
    """``python -m <module> relay <args>`` as a real process (``module`` "tandemq": the
    ``tandemq outbox relay`` command); its log goes to ``log`` (appended) or to a pipe."""
    command = ["outbox", "relay"] if module == "tandemq" else ["relay"]
    with open(log, "ab") if log else contextlib.nullcontext() as out:
        return subprocess.Popen(
            [sys.executable, "-m", module, *command, *args],
            cwd=ROOT,
            env=subprocess_env(**env),
            stdout=subprocess.DEVNULL,
            stderr=out or subprocess.PIPE,
        )


async def _exists(path: Path) -> bool:
    return path.exists()  # noqa: ASYNC240 - a stat of a local file


def _stopped_line(log: str) -> dict[str, int]:
    for line in log.splitlines():
        if '"outbox.relay_stopped"' in line:
            event = json.loads(line)
            return {"sent": event["sent"], "existed": event["existed"]}
    raise AssertionError(f"no outbox.relay_stopped in the relay's log:\n{log[-2000:]}")
