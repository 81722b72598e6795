"""Distributor.send / send_many / get_task: every option lands in Redis as get_task shows it,
invalid options and oversized payloads are refused with nothing written, and a property test
over random option mixes: either accepted and stored as given, or refused with nothing written."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.clock import from_ms, now_ms, to_ms
from tandemq.common.envelope import entry_id
from tandemq.common.keys import Keys
from tandemq.common.settings import Settings
from tandemq.distributor import (
    Distributor,
    DuplicateTask,
    InvalidSendOptions,
    PayloadTooLarge,
    SendError,
    TaskIdConflict,
    TaskInfo,
    TaskState,
)
from tandemq.distributor.core import new_task_id, new_task_ids
from tandemq.distributor.options import MAX_TASK_ID_LENGTH


class Email(BaseModel):
    to: str = "alice@example.org"
    n: int = 0


async def _keys(redis: Redis, prefix: str) -> list[bytes]:
    return [k async for k in redis.scan_iter(match=f"{prefix}:*")]


async def _stored(distributor: Distributor, info: TaskInfo) -> TaskInfo:
    stored = await distributor.get_task(info.id, queue=info.queue)
    assert stored is not None
    return stored


def _ms_precision(moment: datetime) -> datetime:
    return from_ms(to_ms(moment))


# -- what lands in Redis ----------------------------------------------------------------------


async def _pending_ids(redis: Redis, key: str) -> list[str]:
    """The task ids of a pending list, newest first, whether bare ids or envelopes."""
    return [entry_id(e) for e in await redis.lrange(key, 0, -1)]


async def test_send_with_defaults_is_pending_in_the_default_queue(
    distributor: Distributor, redis: Redis, prefix: str
) -> None:
    before = now_ms()
    info = await distributor.send(Email(n=1))
    after = now_ms()
    stored = await _stored(distributor, info)
    assert stored == info
    assert stored.queue == "default"
    assert stored.state is TaskState.PENDING
    assert stored.type == f"{__name__}.Email"
    assert stored.payload == {"to": "alice@example.org", "n": 1}
    assert (stored.retried, stored.max_retry) == (0, 25)
    assert stored.enqueued_at is not None
    assert from_ms(before) <= stored.enqueued_at <= from_ms(after)
    assert stored.next_process_at is None
    assert (stored.timeout, stored.deadline, stored.retention) == (None, None, None)
    qk = Keys(prefix).queue("default")
    assert await _pending_ids(redis, qk.pending) == [info.id]  # a bare id or an envelope
    assert len(info.id) == 22  # 128 random bits, URL-safe base64: not guessable


async def test_queue_option_puts_the_task_in_that_queue(
    distributor: Distributor, redis: Redis, prefix: str
) -> None:
    info = await distributor.send(Email(), queue="critical")
    assert info.queue == "critical"
    assert await distributor.get_task(info.id) is None  # not in "default"
    assert await _stored(distributor, info) == info
    assert await redis.llen(Keys(prefix).queue("critical").pending) == 1
    assert await redis.smembers(f"{prefix}:queues") == {b"critical"}


async def test_process_in_makes_the_task_scheduled(
    distributor: Distributor, redis: Redis, prefix: str
) -> None:
    before = now_ms()
    info = await distributor.send(Email(), process_in=timedelta(minutes=5))
    after = now_ms()
    stored = await _stored(distributor, info)
    assert stored == info
    assert stored.state is TaskState.SCHEDULED
    assert stored.next_process_at is not None
    assert from_ms(before + 300_000) <= stored.next_process_at <= from_ms(after + 300_000)
    qk = Keys(prefix).queue("default")
    assert await redis.zscore(qk.scheduled, info.id) == to_ms(stored.next_process_at)
    assert await redis.llen(qk.pending) == 0


async def test_process_at_makes_the_task_scheduled_at_that_moment(
    distributor: Distributor,
) -> None:
    moment = datetime.now(timezone(timedelta(hours=-7))) + timedelta(hours=2)
    info = await distributor.send(Email(), process_at=moment)
    stored = await _stored(distributor, info)
    assert stored == info
    assert stored.state is TaskState.SCHEDULED
    assert stored.next_process_at == _ms_precision(moment)


@pytest.mark.parametrize(
    "when",
    [
        {"process_in": timedelta(0)},
        {"process_at": datetime.now(UTC) - timedelta(hours=1)},
        {"process_at": datetime(2000, 1, 1, tzinfo=UTC)},
    ],
)
async def test_a_moment_not_in_the_future_means_pending_now(
    distributor: Distributor, when: dict[str, Any]
) -> None:
    info = await distributor.send(Email(), **when)
    stored = await _stored(distributor, info)
    assert stored.state is TaskState.PENDING
    assert stored.next_process_at is None


async def test_max_retry_timeout_deadline_retention_are_stored(
    distributor: Distributor,
) -> None:
    deadline = datetime.now(UTC) + timedelta(days=1)
    info = await distributor.send(
        Email(),
        max_retry=0,
        timeout=timedelta(seconds=90),
        deadline=deadline,
        retention=timedelta(hours=6),
    )
    stored = await _stored(distributor, info)
    assert stored == info
    assert stored.max_retry == 0
    assert stored.timeout == timedelta(seconds=90)
    assert stored.deadline == _ms_precision(deadline)
    assert stored.retention == timedelta(hours=6)


async def test_explicit_task_id_is_used_and_a_duplicate_is_a_conflict(
    distributor: Distributor,
) -> None:
    info = await distributor.send(Email(n=1), task_id="order-42")
    assert info.id == "order-42"
    with pytest.raises(TaskIdConflict) as caught:
        await distributor.send(Email(n=2), task_id="order-42", process_in=timedelta(hours=1))
    assert "order-42" in str(caught.value)
    assert "'default'" in str(caught.value)
    stored = await _stored(distributor, info)
    assert stored.payload == {"to": "alice@example.org", "n": 1}
    assert stored.state is TaskState.PENDING
    # The same id in another queue is another task.
    other = await distributor.send(Email(n=3), task_id="order-42", queue="other")
    assert (await _stored(distributor, other)).payload["n"] == 3


async def test_task_id_of_the_maximum_length_is_accepted(distributor: Distributor) -> None:
    task_id = "x" * MAX_TASK_ID_LENGTH
    info = await distributor.send(Email(), task_id=task_id)
    assert (await _stored(distributor, info)).id == task_id


@pytest.mark.parametrize("task_id", ["ünï{cödé}", "a b:c/d|e", "é€"])
async def test_task_ids_with_separators_and_non_ascii_characters_round_trip(
    distributor: Distributor, task_id: str
) -> None:
    info = await distributor.send(Email(n=7), task_id=task_id, unique_for=timedelta(seconds=9))
    stored = await _stored(distributor, info)
    assert (stored.id, stored.payload["n"]) == (task_id, 7)


@pytest.mark.parametrize("task_id", ["a\x1fb", "\x1eheld", "tab\tand\nnewline"])
async def test_task_ids_with_control_characters_are_refused_before_any_write(
    distributor: Distributor, redis: Redis, prefix: str, task_id: str
) -> None:
    # "\x1e" and "\x1f" separate an envelope's fields and enqueue.lua's packed header: an id
    # holding one could be read as an envelope by a lease, or split a header.
    with pytest.raises(InvalidSendOptions, match="printable"):
        await distributor.send(Email(n=7), task_id=task_id)
    assert [k async for k in redis.scan_iter(match=f"{prefix}:*")] == []


async def test_unique_for_refuses_an_equal_task_while_locked(
    distributor: Distributor, redis: Redis, prefix: str
) -> None:
    first = await distributor.send(Email(n=1), unique_for=timedelta(minutes=10))
    with pytest.raises(DuplicateTask) as caught:
        await distributor.send(Email(n=1), unique_for=timedelta(minutes=10))
    assert caught.value.holder == first.id
    assert caught.value.queue == "default"
    assert len(await redis.keys(f"{prefix}:{{default}}:t:*")) == 1
    # A different payload, or another queue, is not a duplicate.
    await distributor.send(Email(n=2), unique_for=timedelta(minutes=10))
    await distributor.send(Email(n=1), unique_for=timedelta(minutes=10), queue="other")
    lock = Keys(prefix).queue("default").unique(first.type, b'{"to":"alice@example.org","n":1}')
    assert await redis.get(lock) == first.id.encode()
    assert 0 < await redis.pttl(lock) <= 600_000


async def test_get_task_of_an_unknown_id_is_none(distributor: Distributor) -> None:
    assert await distributor.get_task("no-such-task") is None
    assert await distributor.get_task("no-such-task", queue="nowhere") is None


async def test_concurrent_sends_each_get_their_own_result(distributor: Distributor) -> None:
    await distributor.send(Email(n=-1), task_id="taken")
    coros = [distributor.send(Email(n=i)) for i in range(60)]
    coros.insert(30, distributor.send(Email(n=99), task_id="taken"))
    results = await asyncio.gather(*coros, return_exceptions=True)
    assert isinstance(results[30], TaskIdConflict)
    infos = [r for r in results if isinstance(r, TaskInfo)]
    assert len(infos) == 60
    assert len({i.id for i in infos}) == 60
    for info in infos:
        assert await _stored(distributor, info) == info
    assert (await distributor.get_task("taken")).payload["n"] == -1  # type: ignore[union-attr]


async def test_from_env_uses_redis_url_and_prefix(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, prefix: str, redis: Redis
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("TANDEMQ_PREFIX", prefix)
    async with Distributor.from_env() as d:
        info = await d.send(Email())
    assert await _pending_ids(redis, Keys(prefix).queue("default").pending) == [info.id]


# -- refused, nothing written -----------------------------------------------------------------

NAIVE = datetime(2030, 1, 1, 12, 0)
AWARE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

INVALID: list[tuple[dict[str, Any], str]] = [
    ({"queue": ""}, "invalid queue name"),
    ({"queue": "a{b}"}, "invalid queue name"),
    ({"queue": " padded"}, "invalid queue name"),
    ({"max_retry": -1}, "max_retry must be an int >= 0"),
    ({"max_retry": True}, "max_retry must be an int >= 0"),
    ({"process_in": timedelta(seconds=5), "process_at": AWARE}, "not both"),
    ({"process_in": timedelta(seconds=-1)}, "process_in must not be negative"),
    ({"process_at": NAIVE}, "process_at must be timezone-aware"),
    ({"deadline": NAIVE}, "deadline must be timezone-aware"),
    ({"timeout": timedelta(0)}, "timeout must be positive"),
    ({"timeout": timedelta(seconds=-3)}, "timeout must be positive"),
    ({"retention": timedelta(0)}, "retention must be positive"),
    ({"unique_for": timedelta(0)}, "unique_for must be positive"),
    ({"unique_for": timedelta(milliseconds=999)}, "unique_for must be at least 1 second"),
    ({"task_id": ""}, "task_id must be 1-256 characters"),
    ({"task_id": "x" * (MAX_TASK_ID_LENGTH + 1)}, "task_id must be 1-256 characters"),
]


@pytest.mark.parametrize(("options", "message"), INVALID)
async def test_invalid_options_are_refused_and_nothing_is_written(
    distributor: Distributor, redis: Redis, prefix: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidSendOptions, match=message) as caught:
        await distributor.send(Email(), **options)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, SendError)
    assert await _keys(redis, prefix) == []


async def test_a_payload_that_is_not_a_model_is_refused(
    distributor: Distributor, redis: Redis, prefix: str
) -> None:
    with pytest.raises(InvalidSendOptions, match="pydantic model"):
        await distributor.send({"to": "bob"})  # type: ignore[arg-type]
    assert await _keys(redis, prefix) == []


async def test_payload_over_the_limit_is_refused_and_nothing_is_written(
    redis_url: str, redis: Redis, prefix: str
) -> None:
    limit = len(Email(to="x" * 10).model_dump_json().encode())
    s = Settings.load(env=False, redis_url=redis_url, prefix=prefix, max_payload_bytes=limit)
    async with Distributor(settings=s) as d:
        await d.send(Email(to="x" * 10))  # exactly at the limit: fine
        written = await _keys(redis, prefix)
        with pytest.raises(PayloadTooLarge) as caught:
            await d.send(Email(to="x" * 11))
        assert (caught.value.size, caught.value.limit) == (limit + 1, limit)
        assert "TANDEMQ_MAX_PAYLOAD_BYTES" in str(caught.value)
        assert sorted(await _keys(redis, prefix)) == sorted(written)
        assert await redis.llen(Keys(prefix).queue("default").pending) == 1
        with pytest.raises(PayloadTooLarge):
            await d.send_many([Email(), Email(to="y" * 500), Email()], queue="many")
        assert await redis.exists(Keys(prefix).queue("many").pending) == 0


# -- send_many --------------------------------------------------------------------------------


async def test_send_many_writes_every_task_in_order(
    distributor: Distributor, redis: Redis, prefix: str
) -> None:
    infos = await distributor.send_many([Email(n=i) for i in range(5)], queue="bulk", max_retry=3)
    assert len({i.id for i in infos}) == 5
    for n, info in enumerate(infos):
        stored = await _stored(distributor, info)
        assert stored == info
        assert (stored.queue, stored.max_retry, stored.payload["n"]) == ("bulk", 3, n)
        assert stored.state is TaskState.PENDING
    pending = await _pending_ids(redis, Keys(prefix).queue("bulk").pending)
    assert list(reversed(pending)) == [i.id for i in infos]  # FIFO


async def test_send_many_over_several_chunks_returns_every_info_in_order(
    distributor: Distributor, redis: Redis, prefix: str
) -> None:
    # Chunks of 1,000 are streamed and their infos built while Redis runs them: the last,
    # partial chunk's infos too.
    infos = await distributor.send_many([Email(n=i) for i in range(2345)], queue="bulk")
    assert [i.payload["n"] for i in infos] == list(range(2345))
    pending = await _pending_ids(redis, Keys(prefix).queue("bulk").pending)
    assert list(reversed(pending)) == [i.id for i in infos]
    for info in (infos[0], infos[999], infos[1000], infos[-1]):
        assert await _stored(distributor, info) == info


async def test_send_many_shares_its_options(distributor: Distributor) -> None:
    infos = await distributor.send_many(
        [Email(n=1), Email(n=2)],
        process_in=timedelta(minutes=1),
        timeout=timedelta(seconds=30),
        retention=timedelta(days=1),
    )
    for info in infos:
        stored = await _stored(distributor, info)
        assert stored == info
        assert stored.state is TaskState.SCHEDULED
        assert stored.timeout == timedelta(seconds=30)
        assert stored.retention == timedelta(days=1)
    assert infos[0].next_process_at == infos[1].next_process_at


async def test_send_many_of_nothing_and_with_bad_options(
    distributor: Distributor, redis: Redis, prefix: str
) -> None:
    assert await distributor.send_many([]) == []
    with pytest.raises(InvalidSendOptions):
        await distributor.send_many([Email()], max_retry=-1)
    with pytest.raises(InvalidSendOptions):
        await distributor.send_many([Email(), "nope"])  # type: ignore[list-item]
    assert await _keys(redis, prefix) == []


# -- bugs -------------------------------------------------------------------------------------


async def test_a_fractional_max_retry_is_refused(
    distributor: Distributor, redis: Redis, prefix: str
) -> None:
    with pytest.raises(InvalidSendOptions, match="max_retry"):
        await distributor.send(Email(), max_retry=2.5)  # type: ignore[arg-type]
    assert await _keys(redis, prefix) == []


async def test_timeout_and_retention_are_stored_to_the_millisecond(
    distributor: Distributor,
) -> None:
    info = await distributor.send(
        Email(), timeout=timedelta(milliseconds=1001), retention=timedelta(milliseconds=2002)
    )
    stored = await _stored(distributor, info)
    assert stored.timeout == timedelta(milliseconds=1001)
    assert stored.retention == timedelta(milliseconds=2002)


@pytest.mark.parametrize(
    "options",
    [
        {"process_in": timedelta(days=3_000_000)},
        {"process_at": datetime.max.replace(tzinfo=UTC)},
        {"deadline": datetime.max.replace(tzinfo=UTC)},
    ],
    ids=["process_in_3M_days", "process_at_max", "deadline_max"],
)
async def test_a_far_future_moment_is_stored_or_refused_whole(
    distributor: Distributor, redis: Redis, prefix: str, options: dict[str, Any]
) -> None:
    try:
        info = await distributor.send(Email(), **options)
    except InvalidSendOptions:
        assert await _keys(redis, prefix) == []
    else:
        assert await _stored(distributor, info) == info


# -- property: random option mixes ------------------------------------------------------------

GOOD_QUEUES = ["default", "critical", "low:2", "é-queue"]
BAD_QUEUES = ["", " pad", "pad ", "a{b}"]


@st.composite
def option_mixes(draw: st.DrawFn) -> dict[str, Any]:
    """Send options as specs: moments are offsets from 'now', made concrete at send time.
    Each option present is out of range with a small probability, so both outcomes are common."""

    def bad() -> bool:
        return draw(st.integers(0, 9)) == 0

    spec: dict[str, Any] = {}
    if draw(st.booleans()):
        spec["queue"] = draw(st.sampled_from(BAD_QUEUES if bad() else GOOD_QUEUES))
    if draw(st.booleans()):
        spec["max_retry"] = draw(st.integers(-3, -1) if bad() else st.integers(0, 40))
    when = draw(st.sampled_from(["now", "in", "at", "at", "in", "both"]))
    if when in ("in", "both"):
        seconds = st.integers(-100, -1) if bad() else st.integers(0, 10**7)
        spec["process_in"] = timedelta(seconds=draw(seconds))
    offsets = st.integers(-(10**9), -5_000) | st.integers(5_000, 10**10)  # ms, clear of "now"
    for name in ("process_at", "deadline"):
        if name == "deadline" and draw(st.booleans()):
            continue
        if name == "process_at" and when not in ("at", "both"):
            continue
        spec[name] = (draw(offsets), not bad(), draw(st.integers(-12, 12)))
    for name in ("timeout", "retention"):  # durations are stored to the exact millisecond
        if draw(st.booleans()):
            ms = st.integers(-5000, 0) if bad() else st.integers(1, 10**9)
            spec[name] = timedelta(milliseconds=draw(ms))
    if draw(st.booleans()):
        ms = st.integers(-1000, 999) if bad() else st.integers(1000, 10**7)
        spec["unique_for"] = timedelta(milliseconds=draw(ms))
    if draw(st.booleans()):
        ids = (
            st.just("") | st.text(min_size=257, max_size=262)
            if bad()
            else st.text(min_size=1, max_size=12) | st.text(min_size=250, max_size=256)
        )
        spec["task_id"] = draw(ids)
    return spec


def _moment(offset_ms: int, aware: bool, hours: int) -> datetime:
    moment = datetime.now(UTC) + timedelta(milliseconds=offset_ms)
    return (
        moment.astimezone(timezone(timedelta(hours=hours)))
        if aware
        else moment.replace(tzinfo=None)
    )


def _valid(o: dict[str, Any]) -> bool:
    queue = o.get("queue", "default")
    if not queue or "{" in queue or "}" in queue or queue != queue.strip():
        return False
    if o.get("max_retry", 0) < 0:
        return False
    if "process_in" in o and "process_at" in o:
        return False
    if o.get("process_in", timedelta(0)) < timedelta(0):
        return False
    if any(name in o and o[name].tzinfo is None for name in ("process_at", "deadline")):
        return False
    if any(name in o and o[name] <= timedelta(0) for name in ("timeout", "retention")):
        return False
    if "unique_for" in o and o["unique_for"] < timedelta(seconds=1):
        return False
    if "task_id" not in o:
        return True
    return 0 < len(o["task_id"]) <= MAX_TASK_ID_LENGTH and o["task_id"].isprintable()


async def _check_mix(redis_url: str, spec: dict[str, Any], n: int) -> None:
    prefix = f"prop-{uuid.uuid4().hex[:10]}"
    options = {k: _moment(*v) if k in ("process_at", "deadline") else v for k, v in spec.items()}
    async with Distributor(redis_url=redis_url, prefix=prefix) as d:
        try:
            before = now_ms()
            try:
                info = await d.send(Email(n=n), **options)
            except InvalidSendOptions:
                event("refused")
                assert not _valid(options), options
                assert await _keys(d.redis, prefix) == []
                return
            after = now_ms()
            event("accepted")
            assert _valid(options), options
            stored = await d.get_task(info.id, queue=info.queue)
            assert stored == info
            assert stored.queue == options.get("queue", "default")
            assert stored.max_retry == options.get("max_retry", 25)
            assert stored.payload == {"to": "alice@example.org", "n": n}
            assert (stored.retried, stored.last_error) == (0, None)
            if "task_id" in options:
                assert stored.id == options["task_id"]
            assert stored.timeout == options.get("timeout")
            assert stored.retention == options.get("retention")
            deadline = options.get("deadline")
            assert stored.deadline == (None if deadline is None else _ms_precision(deadline))
            process_in = options.get("process_in", timedelta(0))
            process_at = options.get("process_at")
            if process_at is not None and to_ms(process_at) > after:
                assert stored.state is TaskState.SCHEDULED
                assert stored.next_process_at == _ms_precision(process_at)
            elif process_in > timedelta(0):
                assert stored.state is TaskState.SCHEDULED
                span = int(process_in.total_seconds() * 1000)
                assert stored.next_process_at is not None
                assert from_ms(before + span) <= stored.next_process_at <= from_ms(after + span)
            else:
                assert stored.state is TaskState.PENDING
                assert stored.next_process_at is None
            if "unique_for" in options:
                lock = (
                    Keys(prefix)
                    .queue(stored.queue)
                    .unique(stored.type, Email(n=n).model_dump_json().encode())
                )
                assert await d.redis.get(lock) == stored.id.encode()
                assert (
                    0
                    < await d.redis.pttl(lock)
                    <= options["unique_for"] / timedelta(milliseconds=1)
                )
        finally:
            written = await _keys(d.redis, prefix)
            if written:
                await d.redis.delete(*written)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=option_mixes(), n=st.integers(0, 1000))
def test_random_option_mixes_are_stored_as_given_or_refused_whole(
    redis_url: str, spec: dict[str, Any], n: int
) -> None:
    asyncio.run(_check_mix(redis_url, spec, n))


def test_generated_ids_never_start_with_a_dash() -> None:
    """A command line would read ``tandemq tasks show mail -Qx...`` as an option."""
    ids = new_task_ids(20_000) + [new_task_id() for _ in range(2_000)]
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 and re.fullmatch(r"[A-Za-z0-9._]+", i) for i in ids)
    assert len(set(ids)) == len(ids)
