"""The script transport (common/transport.py): a Lua error names the right file and line, on
both paths (the pipelining connection and redis-py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.errors import ScriptError, TandemqError
from tandemq.common.keys import Keys
from tandemq.common.scripts import SCRIPTS
from tandemq.common.task import NewTask
from tandemq.common.wire import WireDown, WireLost

LUA = Path(__file__).parents[2] / "common" / "lua"


def line_of(file: str, text: str) -> int:
    """The line number of the one line of ``file`` that contains ``text``."""
    lines = [i for i, line in enumerate((LUA / file).read_text().splitlines(), 1) if text in line]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture(params=[pytest.param("wire", marks=pytest.mark.wire), "redis-py"])
async def either_broker(
    request: pytest.FixtureRequest, redis: Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Broker:
    if request.param == "redis-py":
        monkeypatch.setenv("TANDEMQ_WIRE", "off")
    broker = Broker(redis, Keys(prefix))
    assert (broker.transport.can_subscribe) == (request.param == "wire")
    await broker.load_scripts()
    return broker


async def test_an_error_in_a_script_names_its_file_and_line(
    either_broker: Broker, redis: Redis, prefix: str
) -> None:
    """ack.lua reads the task hash with HMGET; a string there fails that line."""
    qk = Keys(prefix).queue("default")
    await redis.set(qk.task("t1"), "not a hash")
    with pytest.raises(ScriptError) as raised:
        await either_broker.ack("me", {"default": ["t1"]})
    expected = line_of("ack.lua", 'redis.call("HMGET", key')
    assert f"common/lua/ack.lua:{expected}" in str(raised.value)
    assert "user_script" not in str(raised.value)  # every line number is mapped
    assert isinstance(raised.value, TandemqError)
    await either_broker.aclose()


async def test_an_error_in_lib_names_lib_and_its_line(
    either_broker: Broker, redis: Redis, prefix: str
) -> None:
    """extend.lua calls _lib's leased(), whose ZSCORE fails on an active key that is a string."""
    qk = Keys(prefix).queue("default")
    await redis.set(qk.active, "not a sorted set")
    with pytest.raises(ScriptError) as raised:
        await either_broker.extend("me", {"default": ["t1"]}, 1000)
    expected = line_of("_lib.lua", 'redis.call("ZSCORE", active_key, id)')
    assert f"common/lua/_lib.lua:{expected}" in str(raised.value)
    await either_broker.aclose()


async def test_enqueue_many_registers_its_queues_on_either_path(
    either_broker: Broker, redis: Redis, prefix: str
) -> None:
    """The redis-py path of a streamed enqueue (TLS users' path) used to skip registering
    the queues the tasks went to: inspection tools did not list them."""
    tasks = [NewTask(id=f"t{i}", queue=f"q{i % 2}", type="t.T", payload=b"{}", max_retry=1,
                     enqueued_ms=1) for i in range(4)]  # fmt: skip
    assert await either_broker.enqueue_many(tasks) == []
    assert await redis.smembers(Keys(prefix).queues) == {b"q0", b"q1"}
    assert await redis.llen(Keys(prefix).queue("q1").pending) == 2
    await either_broker.aclose()


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_line_of_a_loaded_script_maps_back_to_its_file(name: str) -> None:
    """Script.where, on every script (composed ones too): line n of the loaded source is the
    line of the .lua file it names, or blank where it was a _lib helper the script does not
    call (left out, line for line)."""
    script = SCRIPTS[name]
    loaded = script.source.splitlines()
    for file, start in script.files:
        for n, text in enumerate((LUA / f"{file}.lua").read_text().splitlines(), 1):
            line = loaded[start + n - 2]
            assert line.endswith(text) or (file == "_lib" and line == "")  # _lib's line 1
            assert script.where(start + n - 1) == f"common/lua/{file}.lua:{n}"  # gets a constant


def test_a_script_carries_only_the_lib_helpers_it_calls() -> None:
    """Redis runs a script's whole text on every call: each _lib helper left in is a closure
    made per call. push_envelope calls push_pending alone; dequeue reaches lease_envelope
    through lease_popped and lease_one; a helper named only in a comment is left out."""

    def defined(name: str) -> set[str]:
        return set(re.findall(r"^local function (\w+)\(", SCRIPTS[name].source, re.M))

    assert defined("push_envelope") == {"push_pending"}
    assert {"lease_popped", "lease_one", "lease_envelope", "open_envelope"} <= defined("dequeue")
    assert "give_back" not in defined("dequeue")
    assert "leased" in (LUA / "push_envelope.lua").read_text()  # in a comment there


async def test_meanwhile_runs_once_on_either_path(either_broker: Broker, prefix: str) -> None:
    """A send's TaskInfo is made in ``meanwhile``: exactly once per call that succeeds, on
    the pipelining connection and through redis-py alike."""
    called: list[int] = []
    for n in range(3):
        task = NewTask(id=f"t{n}", queue="q", type="t.T", payload=b"{}", max_retry=1,
                       enqueued_ms=1)  # fmt: skip
        await either_broker.enqueue(task, lambda n=n: called.append(n))  # type: ignore[misc]
    assert called == [0, 1, 2]
    await either_broker.aclose()


@pytest.mark.wire
async def test_meanwhile_runs_once_when_the_pipelining_connection_fails(
    redis: Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Down before the write (nothing sent): redis-py sends, and meanwhile runs then. Lost
    after the write (meanwhile ran): redis-py sends again, and meanwhile does not run twice."""
    broker = Broker(redis, Keys(prefix))
    await broker.load_scripts()
    wire = broker.transport._wire
    assert wire is not None

    async def down(commands: object, timeout: float, meanwhile: object = None) -> list[object]:
        raise WireDown("not connected")

    async def lost(
        commands: object, timeout: float, meanwhile: Callable[[], object]
    ) -> list[object]:
        meanwhile()
        raise WireLost("dropped after the write")

    for n, failure in enumerate((down, lost)):
        monkeypatch.setattr(wire, "call_many", failure)
        called: list[int] = []
        task = NewTask(id=f"t{n}", queue="q", type="t.T", payload=b"{}", max_retry=1,
                       enqueued_ms=1)  # fmt: skip
        await broker.enqueue(task, lambda: called.append(1))  # noqa: B023 - awaited here
        assert called == [1]
        assert await redis.exists(Keys(prefix).queue("q").task(task.id))
    await broker.aclose()
