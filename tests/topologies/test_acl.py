"""The ACL rule README gives, run as written: a user limited to tandemq's key prefix, its
channels and the commands in the rule runs both sides (Redis denies nothing: ACL LOG stays
empty for it); a user missing one of the commands tandemq runs at start fails at start with
RedisPermissionDenied naming it."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq import SyncDistributor
from tandemq.common.errors import RedisPermissionDenied
from tandemq.common.settings import Settings
from tandemq.common.task import TaskState
from tandemq.distributor import Distributor
from tandemq.inspector import Inspector
from tandemq.processor import Processor, TaskContext
from tests.topologies.roundtrip import Ping, round_trip

ROOT = Path(__file__).resolve().parents[2]


def readme_rule() -> list[str]:
    """The words of README's ``ACL SETUSER tandemq ...`` line after the user name."""
    text = (ROOT / "README.md").read_text()
    found = re.search(r"^ACL SETUSER tandemq (.+)$", text, re.M)
    assert found, "README has no ACL SETUSER tandemq line"
    return found.group(1).split()


def rule_for(prefix: str, password: str, without: str | None = None) -> list[str]:
    words = []
    for given in readme_rule():
        word = f">{password}" if given == ">CHANGE-ME" else given
        word = word.replace("~tandemq:*", f"~{prefix}:*").replace("&tandemq:*", f"&{prefix}:*")
        if without is None or word != f"+{without}":
            words.append(word)
    return words


@pytest.fixture
async def make_user(redis: Redis, redis_url: str) -> AsyncIterator[object]:
    made: list[str] = []

    async def make(prefix: str, without: str | None = None) -> str:
        user, password = f"tq-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        await redis.execute_command("ACL", "SETUSER", user, *rule_for(prefix, password, without))
        made.append(user)
        return f"redis://{user}:{password}@{redis_url.split('//', 1)[1]}"

    try:
        yield make
    finally:
        for user in made:
            await redis.acl_deluser(user)


async def _denials(redis: Redis, url: str) -> list[str]:
    user = url.split("//", 1)[1].split(":", 1)[0]
    entries = await redis.acl_log(count=1000)
    return [
        f"{e.get(b'reason', e.get('reason'))}:{e.get(b'object', e.get('object'))}"
        for e in entries
        if (e.get(b"username") or e.get("username")) in (user, user.encode())
    ]


@pytest.mark.parametrize("wire", ["on", "off"])
async def test_readme_rule_runs_both_sides(
    make_user: object, redis: Redis, prefix: str, wire: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TANDEMQ_WIRE", wire)
    url = await make_user(prefix)  # type: ignore[operator]
    await round_trip(redis_url=url, prefix=prefix)
    assert await _denials(redis, url) == []


class Flaky(BaseModel):
    n: int


async def test_readme_rule_covers_results_retries_schedules_and_cancel(
    make_user: object, redis: Redis, prefix: str
) -> None:
    url = await make_user(prefix)  # type: ignore[operator]
    settings = Settings.load(env=False, redis_url=url, prefix=prefix, poll_interval_seconds=0.1)
    processor = Processor(settings=settings, retry_delay=lambda *_: timedelta(milliseconds=50))
    failed: set[int] = set()

    @processor.handler(Flaky)
    async def flaky(task: Flaky, ctx: TaskContext) -> int:
        if task.n not in failed:  # each task fails once: a retry, then a result
            failed.add(task.n)
            raise ValueError("first attempt fails")
        return task.n * 2

    async with Distributor(settings=settings) as distributor, processor:
        sent = await distributor.send(Flaky(n=21), result_ttl=timedelta(minutes=1))
        later = await distributor.send(Flaky(n=1), process_in=timedelta(milliseconds=200))
        done = await distributor.wait(sent.id, timeout=30)
        assert (done.state, done.result) == (TaskState.COMPLETED, 42)
        assert (await distributor.wait(later.id, timeout=30)).state == TaskState.COMPLETED
        far = await distributor.send(Flaky(n=2), process_in=timedelta(hours=1))
        assert await distributor.cancel(far.id) == "canceled"
    assert await _denials(redis, url) == []


async def test_distributor_without_script_load_fails_at_start(
    make_user: object, prefix: str
) -> None:
    url = await make_user(prefix, without="script|load")  # type: ignore[operator]
    with pytest.raises(RedisPermissionDenied, match=re.escape("script|load")):
        async with Distributor(redis_url=url, prefix=prefix):
            pass


async def test_without_info_the_checks_are_skipped_not_fatal(
    make_user: object, prefix: str
) -> None:
    """INFO feeds the start-up checks (eviction policy, a cluster node given as one server):
    a user without it is warned by the distributors, and the Inspector opens all the same."""
    url = await make_user(prefix, without="info")  # type: ignore[operator]
    async with Distributor(redis_url=url, prefix=prefix) as distributor:
        await distributor.send(Ping(n=1), queue="q")
    with SyncDistributor(redis_url=url, prefix=prefix) as sync:
        sync.send(Ping(n=2), queue="q")
    async with Inspector(redis_url=url, prefix=prefix):  # (its reads need +@read: REDIS.md)
        pass


@pytest.mark.parametrize("command", ["evalsha", "publish", "lpush", "hset"])
async def test_a_send_without_a_command_fails_naming_it(
    make_user: object, prefix: str, command: str
) -> None:
    """The distributor runs no script at start: the first send says what is missing (inside
    a script too, where Redis 7.0 does not name the command: the script's line does). A
    plain send pushes an envelope (no HSET); one with a caller's id writes a task hash."""
    url = await make_user(prefix, without=command)  # type: ignore[operator]
    task_id = "mine" if command == "hset" else None
    async with Distributor(redis_url=url, prefix=prefix) as distributor:
        with pytest.raises(RedisPermissionDenied, match=rf"'{command}'|{command} command"):
            await distributor.send(Ping(n=1), task_id=task_id)


@pytest.mark.parametrize("command", ["evalsha", "script|load", "sadd", "zrangebyscore"])
async def test_processor_without_a_command_fails_at_start_naming_it(
    make_user: object, prefix: str, command: str
) -> None:
    url = await make_user(prefix, without=command)  # type: ignore[operator]
    processor = Processor(settings=Settings.load(env=False, redis_url=url, prefix=prefix))
    with pytest.raises(RedisPermissionDenied, match=re.escape(command)):
        await processor.start()
