"""consume_stream: entries XADDed by a producer that knows nothing of tandemq become tasks."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.keys import Keys
from tandemq.common.task import TaskState
from tandemq.processor import Processor, TaskContext
from tests.conftest import ProcessorFactory
from tests.support import eventually, subprocess_env

ROOT = Path(__file__).resolve().parents[2]


class Notification(BaseModel):
    tandemq_type: ClassVar[str] = "tests.stream_notification"
    email: str
    message: str

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> Notification:
        return cls(email=fields["email"], message=fields["message"])


def _stream_name(prefix: str) -> str:
    return f"{prefix}:events-{uuid.uuid4().hex[:10]}"  # under the prefix: deleted after the test


async def _consumer(
    make_processor: ProcessorFactory, stream: str, **options: object
) -> tuple[Processor, asyncio.Queue[tuple[Notification, TaskContext]]]:
    processor = await make_processor(**options)
    seen: asyncio.Queue[tuple[Notification, TaskContext]] = asyncio.Queue()

    @processor.handler(Notification)
    async def notify(n: Notification, ctx: TaskContext) -> None:
        await seen.put((n, ctx))

    processor.consume_stream(stream, group="mailers", parse=Notification.from_fields)
    await processor.start()
    return processor, seen


async def test_stream_entry_becomes_a_task_and_is_acknowledged(
    redis: Redis, prefix: str, make_processor: ProcessorFactory
) -> None:
    stream = _stream_name(prefix)
    await redis.xadd(stream, {"email": "early@foo.com", "message": "before start"})
    _, seen = await _consumer(make_processor, stream)
    await redis.xadd(stream, {"email": "user1@foo.com", "message": "application installed"})
    got = {(await asyncio.wait_for(seen.get(), 10))[0].email for _ in range(2)}
    assert got == {"early@foo.com", "user1@foo.com"}  # a new group reads the whole stream
    pending = await redis.xpending(stream, "mailers")
    assert pending["pending"] == 0
    assert await redis.xlen(stream) == 2  # entries are acknowledged, not deleted


async def test_rejected_entry_is_archived_with_its_fields(
    redis: Redis, broker: Broker, prefix: str, make_processor: ProcessorFactory
) -> None:
    stream = _stream_name(prefix)
    await _consumer(make_processor, stream)
    await redis.xadd(stream, {"email": "x@foo.com"})  # no message field
    archived = Keys(prefix).queue("default").archived
    ids = await eventually(lambda: redis.zrange(archived, 0, -1), lambda v: len(v) == 1)
    info = await broker.get("default", ids[0].decode())
    assert info is not None
    assert info.state == TaskState.ARCHIVED
    assert info.payload == {"email": "x@foo.com"}
    assert "KeyError" in (info.last_error or "")
    assert (await redis.xpending(stream, "mailers"))["pending"] == 0


async def test_entries_a_dead_consumer_left_pending_are_claimed(
    redis: Redis, prefix: str, make_processor: ProcessorFactory
) -> None:
    stream = _stream_name(prefix)
    await redis.xgroup_create(stream, "mailers", "0", mkstream=True)
    await redis.xadd(stream, {"email": "a@foo.com", "message": "orphan"})
    # a consumer that read the entry and died before writing its task
    await redis.xreadgroup("mailers", "dead-consumer", {stream: ">"})
    _, seen = await _consumer(make_processor, stream, lease_seconds=0.5)
    n, _ = await asyncio.wait_for(seen.get(), 10)
    assert n.message == "orphan"
    assert (await redis.xpending(stream, "mailers"))["pending"] == 0


async def test_entry_starts_while_the_consumer_blocks(
    redis: Redis, prefix: str, make_processor: ProcessorFactory
) -> None:
    stream = _stream_name(prefix)
    _, seen = await _consumer(make_processor, stream, poll_interval_seconds=30)
    await eventually(
        lambda: redis.execute_command("CLIENT", "LIST"), lambda v: b"cmd=xreadgroup" in v
    )
    gaps = []
    for i in range(20):
        pushed = time.perf_counter()
        await redis.xadd(stream, {"email": "a@x.org", "message": str(i)})
        await asyncio.wait_for(seen.get(), 10)
        gaps.append(time.perf_counter() - pushed)
    gaps.sort()
    print(f"INTAKE stream add-to-handler p50={gaps[10] * 1000:.2f} ms max={gaps[-1] * 1000:.2f} ms")


async def test_processor_killed_after_the_read_loses_nothing(
    redis: Redis, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    """parse SIGKILLs its process on ``die``: the entry was delivered, its task not yet
    written. The next processor claims it once idle past the lease, and it runs once."""
    stream = _stream_name(prefix)
    env = subprocess_env(
        REDIS_URL=redis_url,
        TANDEMQ_PREFIX=prefix,
        TANDEMQ_LEASE_SECONDS="1",
        INTAKE_KEY=stream,
        INTAKE_DIE_MARKER=str(tmp_path / "died"),
    )
    for n in ("1", "die", "3"):
        await redis.xadd(stream, {"n": n})
    first = _spawn("stream_consumer", env)
    assert await asyncio.to_thread(first.wait, 30) == -signal.SIGKILL
    assert (await redis.xpending(stream, "tandemq"))["pending"] >= 1
    second = _spawn("stream_consumer", env)
    try:
        ledger = f"{prefix}:ledger"
        done = await eventually(lambda: redis.hgetall(ledger), lambda v: len(v) == 3, timeout=30)
        assert done == {b"1": b"1", b"die": b"1", b"3": b"1"}
    finally:
        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, 30) == 0


def _spawn(app: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "tandemq", f"tests.intake_apps:{app}"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
