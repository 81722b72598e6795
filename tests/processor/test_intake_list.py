"""consume_list: items LPUSHed by a producer that knows nothing of tandemq become tasks."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.crc import key_slot

from tandemq.common.broker import Broker
from tandemq.common.errors import ConfigError
from tandemq.common.keys import Keys, hash_tag, intake_keys
from tandemq.common.task import TaskState
from tandemq.processor import Processor, TaskContext
from tests.conftest import ProcessorFactory
from tests.support import eventually, subprocess_env

ROOT = Path(__file__).resolve().parents[2]


class Notification(BaseModel):
    tandemq_type: ClassVar[str] = "tests.notification"
    email: str
    message: str

    @classmethod
    def from_line(cls, line: str) -> Notification:
        email, sep, message = line.partition(",")
        if not sep or "@" not in email:
            raise ValueError(f"expected 'email,message', got {line!r}")
        return cls(email=email, message=message)


def _list_name() -> str:
    return f"jobs-{uuid.uuid4().hex[:10]}"  # outside the test prefix: a user's own key


async def _consumer(
    make_processor: ProcessorFactory, *lists: str, **options: object
) -> tuple[Processor, asyncio.Queue[tuple[Notification, TaskContext]]]:
    processor = await make_processor(**options)
    seen: asyncio.Queue[tuple[Notification, TaskContext]] = asyncio.Queue()

    @processor.handler(Notification)
    async def notify(n: Notification, ctx: TaskContext) -> None:
        await seen.put((n, ctx))

    for name in lists:
        processor.consume_list(name, parse=Notification.from_line)
    await processor.start()
    return processor, seen


async def test_list_item_becomes_a_task_and_runs(
    redis: Redis, make_processor: ProcessorFactory
) -> None:
    jobs = _list_name()
    _, seen = await _consumer(make_processor, jobs)
    await redis.lpush(jobs, "user1@foo.com,application installed")
    n, ctx = await asyncio.wait_for(seen.get(), 10)
    assert (n.email, n.message, ctx.queue, ctx.attempt) == (
        "user1@foo.com",
        "application installed",
        "default",
        1,
    )
    assert await redis.llen(jobs) == 0


async def test_items_run_in_push_order(redis: Redis, make_processor: ProcessorFactory) -> None:
    jobs = _list_name()
    await redis.lpush(jobs, *[f"u{i}@x.org,m{i}" for i in range(250)])  # several batches
    _, seen = await _consumer(make_processor, jobs, concurrency=1)
    order = [(await asyncio.wait_for(seen.get(), 10))[0].message for _ in range(250)]
    assert order == [f"m{i}" for i in range(250)]


async def test_rejected_item_is_archived_with_its_raw_text(
    redis: Redis, broker: Broker, prefix: str, make_processor: ProcessorFactory
) -> None:
    jobs = _list_name()
    await _consumer(make_processor, jobs)
    await redis.lpush(jobs, b"not a notification \xff")
    archived = Keys(prefix).queue("default").archived
    ids = await eventually(lambda: redis.zrange(archived, 0, -1), lambda v: len(v) == 1)
    info = await broker.get("default", ids[0].decode())
    assert info is not None
    assert info.state == TaskState.ARCHIVED
    assert info.type == "tandemq.unparsed"
    assert "not UTF-8" in (info.last_error or "")
    raw = await redis.hget(Keys(prefix).queue("default").task(ids[0].decode()), "p")
    assert raw == b"not a notification \xff"  # byte for byte, not decoded


async def test_parse_error_is_kept_in_last_error(
    redis: Redis, broker: Broker, prefix: str, make_processor: ProcessorFactory
) -> None:
    jobs = _list_name()
    await _consumer(make_processor, jobs)
    await redis.lpush(jobs, "no comma here")
    archived = Keys(prefix).queue("default").archived
    ids = await eventually(lambda: redis.zrange(archived, 0, -1), lambda v: len(v) == 1)
    info = await broker.get("default", ids[0].decode())
    assert info is not None
    assert info.payload == "no comma here"
    assert "expected 'email,message'" in (info.last_error or "")


async def test_several_lists_at_once_touch_no_other_key(
    redis: Redis, prefix: str, make_processor: ProcessorFactory
) -> None:
    tag = uuid.uuid4().hex[:10]
    lists = [f"jobs-{tag}-{i}" for i in range(3)]
    bystander = f"other-{tag}"
    await redis.set(bystander, "untouched")
    _, seen = await _consumer(make_processor, *lists)
    for i, name in enumerate(lists):
        await redis.lpush(name, f"u@x.org,from {i}")
    got = {(await asyncio.wait_for(seen.get(), 10))[0].message for _ in lists}
    assert got == {"from 0", "from 1", "from 2"}
    outside = {k.decode() async for k in redis.scan_iter(match=f"*{tag}*")}
    assert {k for k in outside if not k.startswith(f"{prefix}:")} == {bystander}
    assert await redis.get(bystander) == b"untouched"
    await redis.delete(bystander)


async def test_items_of_a_dead_consumer_come_back(
    redis: Redis, prefix: str, make_processor: ProcessorFactory
) -> None:
    jobs = _list_name()
    keys = intake_keys(prefix, jobs)
    # what a consumer killed between BLMOVE and the task write leaves behind
    await redis.zadd(keys.consumers, {"dead-consumer": 1})
    await redis.lpush(keys.processing("dead-consumer"), "a@x.org,first", "a@x.org,second")
    _, seen = await _consumer(make_processor, jobs)
    got = [(await asyncio.wait_for(seen.get(), 10))[0].message for _ in range(2)]
    assert sorted(got) == ["first", "second"]
    assert await redis.exists(keys.processing("dead-consumer")) == 0
    assert await redis.zscore(keys.consumers, "dead-consumer") is None


async def test_shutdown_leaves_nothing_in_processing(
    redis: Redis, prefix: str, make_processor: ProcessorFactory
) -> None:
    jobs = _list_name()
    processor, seen = await _consumer(make_processor, jobs)
    await redis.lpush(jobs, "a@x.org,one")
    await asyncio.wait_for(seen.get(), 10)
    await processor.shutdown()
    keys = intake_keys(prefix, jobs)
    assert await redis.zcard(keys.consumers) == 0
    assert [k async for k in redis.scan_iter(match=keys.processing_prefix + "*")] == []


def test_intake_keys_share_the_lists_cluster_slot() -> None:
    assert hash_tag("jobs") == "jobs"
    assert hash_tag("{app}:jobs") == "app"
    assert hash_tag("{}jobs") == "{}jobs"
    keys = intake_keys("tq", "{app}:jobs")
    assert hash_tag(keys.consumers) == hash_tag(keys.processing("c1")) == "app"
    assert hash_tag(intake_keys("tq", "jobs").consumers) == "jobs"


def test_a_list_tagged_with_its_queue_shares_one_cluster_slot() -> None:
    """docs/INTAKE.md's Redis Cluster rule: ``{default}:jobs`` consumed into queue ``default``
    puts every key the intake scripts touch in one slot."""
    keys, queue = intake_keys("tq", "{default}:jobs"), Keys("tq").queue("default")
    touched = [keys.source, keys.consumers, keys.processing("host:1:ab"), queue.pending]
    touched += [queue.archived, queue.task("some-id")]
    assert len({key_slot(k.encode()) for k in touched}) == 1
    other = intake_keys("tq", "jobs")
    assert key_slot(other.processing("c").encode()) == key_slot(b"jobs")
    assert key_slot(b"jobs") != key_slot(queue.pending.encode())


async def test_item_starts_while_the_consumer_blocks(
    redis: Redis, make_processor: ProcessorFactory
) -> None:
    """Blocking, not polling: the consumer is parked in BLMOVE when the item is pushed."""
    jobs = _list_name()
    _, seen = await _consumer(make_processor, jobs, poll_interval_seconds=30)
    await eventually(  # the consumer is parked in BLMOVE
        lambda: redis.execute_command("CLIENT", "LIST"), lambda v: b"cmd=blmove" in v
    )
    gaps = []
    for i in range(20):
        pushed = time.perf_counter()
        await redis.lpush(jobs, f"a@x.org,{i}")
        await asyncio.wait_for(seen.get(), 10)
        gaps.append(time.perf_counter() - pushed)
    gaps.sort()
    print(f"INTAKE list push-to-handler p50={gaps[10] * 1000:.2f} ms max={gaps[-1] * 1000:.2f} ms")


async def test_processor_killed_after_the_pop_loses_nothing(
    redis: Redis, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    """parse SIGKILLs its process on ``die``: the item was moved out of the list, its task
    not yet written. The next processor's sweep gives it back, and it runs once."""
    jobs = _list_name()
    env = subprocess_env(
        REDIS_URL=redis_url,
        TANDEMQ_PREFIX=prefix,
        TANDEMQ_LEASE_SECONDS="1",
        INTAKE_KEY=jobs,
        INTAKE_DIE_MARKER=str(tmp_path / "died"),
    )
    first = _spawn("list_consumer", env)
    await redis.lpush(jobs, "1", "die", "3")
    assert await asyncio.to_thread(first.wait, 30) == -signal.SIGKILL
    keys = intake_keys(prefix, jobs)
    held = [k async for k in redis.scan_iter(match=keys.processing_prefix + "*")]
    assert len(held) == 1 and await redis.lrange(held[0], 0, -1) != []
    second = _spawn("list_consumer", env)
    try:
        ledger = f"{prefix}:ledger"
        done = await eventually(lambda: redis.hgetall(ledger), lambda v: len(v) == 3, timeout=30)
        assert done == {b"1": b"1", b"die": b"1", b"3": b"1"}
    finally:
        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, 30) == 0
    assert (tmp_path / "died").exists()


def _spawn(app: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "tandemq", f"tests.intake_apps:{app}"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)


async def test_consume_list_is_refused_once_started_or_twice(
    make_processor: ProcessorFactory,
) -> None:
    processor, _ = await _consumer(make_processor, "jobs-twice")
    with pytest.raises(ConfigError, match="before the processor starts"):
        processor.consume_list("jobs-late", parse=Notification.from_line)
    fresh = await make_processor()
    fresh.consume_list("jobs-a", parse=Notification.from_line)
    with pytest.raises(ConfigError, match="already consumed"):
        fresh.consume_list("jobs-a", parse=Notification.from_line)
    with pytest.raises(ConfigError, match="invalid queue name"):
        fresh.consume_list("jobs-b", parse=Notification.from_line, queue="{bad}")
