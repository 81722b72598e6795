"""The script transport (common/transport.py): a Lua error names the right file and line, on
both paths (the pipelining connection and redis-py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.errors import ScriptError, TandemqError
from tandemq.common.keys import Keys

LUA = Path(__file__).parents[2] / "common" / "lua"


def line_of(file: str, text: str) -> int:
    """The line number of the one line of ``file`` that contains ``text``."""
    lines = [i for i, line in enumerate((LUA / file).read_text().splitlines(), 1) if text in line]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture(params=["wire", "redis-py"])
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
