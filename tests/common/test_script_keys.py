"""Every registered script touches keys of one slot only, declared or built inside Lua.

A Redis Cluster (and strict proxies in front of one) runs a script on the shard of its KEYS;
a key a script builds from an id (``task_prefix .. id``) or reads from a hash field (the
unique lock, the waiter list) is not declared, so it must share the declared keys' slot.
This test proves it from what Redis itself reports: the script tests run in a subprocess
against a server of our own while a MONITOR connection records every command, including the
commands each script runs (MONITOR shows them after the EVALSHA, as ``[0 lua]``). For every
EVALSHA seen, every key of every command it ran (key positions from COMMAND INFO, or COMMAND
GETKEYS) must hash to the slot of its KEYS; and every script in common/scripts.py must have
been seen, so a new script cannot slip by untested."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
import redis
from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.cluster import slot_of
from tandemq.common.keys import Keys
from tandemq.common.scripts import SCRIPTS
from tandemq.distributor import Distributor
from tests.support import RedisServer, subprocess_env

ROOT = Path(__file__).resolve().parents[2]
# The tests that run every script (cron_enqueue through the cron tests, the inspector's
# scripts through its tests).
SCRIPT_TESTS = (
    "tests/common/test_broker_scripts.py",
    "tests/common/test_result_scripts.py",
    "tests/common/test_intake_scripts.py",
    "tests/common/test_rate_dequeue.py",
    "tests/processor/test_cron.py",
    "tests/inspector/test_actions.py",  # task_action, bulk_action
    "tests/inspector/test_reads.py",  # peek
    "tests/common/test_defer_types.py",  # defer
    "tests/processor/test_scheduling.py",  # due_settle, through the forwarder
    "tests/processor/test_idle_take.py",  # take, take_recover
    "tests/common/test_envelopes.py",  # push_envelope, find_envelope
)
# Scripts whose KEYS[1] is the user's list or stream (or a key in its slot): on a cluster it
# must carry the queue's hash tag, which the user chooses (docs/INTAKE.md, "Redis Cluster");
# the tests here use untagged sources, so that one declared key is let off; every other key,
# and every key built inside the script, must be in the queue's slot.
USER_KEY_FIRST = {"intake_list", "intake_stream"}


class _Orphan(BaseModel):
    n: int = 0


_ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t", "a": b"\a", "b": b"\b", '"': b'"', "\\": b"\\"}


def _tokens(line: str) -> list[bytes]:
    """The quoted arguments of one MONITOR line (after its ``[db source]`` part)."""
    out: list[bytes] = []
    i = line.index("]") + 1
    while True:
        i = line.find('"', i)
        if i == -1:
            return out
        i += 1
        buf = bytearray()
        while line[i] != '"':
            if line[i] == "\\":
                nxt = line[i + 1]
                if nxt == "x":
                    buf.append(int(line[i + 2 : i + 4], 16))
                    i += 4
                    continue
                buf += _ESCAPES.get(nxt, nxt.encode())
                i += 2
                continue
            buf += line[i].encode("latin-1")
            i += 1
        out.append(bytes(buf))
        i += 1


class _Monitor(threading.Thread):
    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"MONITOR\r\n")
        self.data = bytearray()

    def run(self) -> None:
        while chunk := self.sock.recv(1 << 20):
            self.data += chunk

    def lines(self) -> list[str]:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.join(10)
        return self.data.decode("latin-1").splitlines()


class _KeyFinder:
    """The keys of commands, as Redis itself finds them (COMMAND GETKEYS, pipelined)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def keys(self, commands: list[list[bytes]]) -> list[list[bytes]]:
        out: list[list[bytes]] = []
        for start in range(0, len(commands), 1000):
            pipe = self.client.pipeline(transaction=False)
            for args in commands[start : start + 1000]:
                pipe.command_getkeys(*args)
            for reply in pipe.execute(raise_on_error=False):
                if isinstance(reply, redis.ResponseError):
                    assert "no key arguments" in str(reply), reply  # PUBLISH: no keys
                    out.append([])
                else:
                    out.append(list(reply))
        return out


async def _orphan_returned(url: str) -> None:
    """orphans.lua, whose test runs on a server of its own: a task made an orphan (active,
    its lease gone) and given back."""
    client = Redis.from_url(url)
    broker = Broker(client, Keys(f"orphans-{uuid.uuid4().hex[:8]}"))
    try:
        await broker.load_scripts()
        async with Distributor(redis=client, prefix=broker.keys.prefix) as d:
            info = await d.send(_Orphan())
        await broker.dequeue({"default": 1}, "owner", 60_000)
        await client.zrem(broker.keys.queue("default").active, info.id)
        assert await broker.return_orphans({"default": [info.id]}) == [("default", info.id)]
    finally:
        await broker.aclose()
        await client.aclose()


# The blocking take runs only on the pipelining connection, and the check (about a minute)
# needs every script run: it belongs to the first CI pass, not the TANDEMQ_WIRE=off one.
@pytest.mark.wire
async def test_every_script_touches_only_its_queues_slot() -> None:
    server = RedisServer().start()
    try:
        monitor = _Monitor(server.port)
        monitor.start()
        await _orphan_returned(server.url)
        run = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-x", *SCRIPT_TESTS],
            cwd=ROOT,
            env=subprocess_env(TANDEMQ_TEST_REDIS_URL=server.url),
            capture_output=True,
            timeout=600,
            check=False,
        )
        assert run.returncode == 0, run.stdout.decode()[-3000:]
        lines = monitor.lines()
        with redis.Redis(port=server.port) as client:
            finder = _KeyFinder(client)
            seen, strays = _check(lines, finder)
    finally:
        server.stop()
    by_sha = {s.sha: name for name, s in SCRIPTS.items()}
    assert {by_sha[sha] for sha in seen if sha in by_sha} == set(SCRIPTS), "scripts never run"
    assert strays == {}, f"keys outside the declared keys' slot: {strays}"


def _check(lines: list[str], finder: _KeyFinder) -> tuple[set[str], dict[str, set[bytes]]]:
    """(SHAs of the scripts run, script -> keys it touched outside its KEYS' slot)."""
    user_first = {SCRIPTS[name].sha for name in USER_KEY_FIRST}
    seen: set[str] = set()
    strays: dict[str, set[bytes]] = defaultdict(set)
    current: tuple[str, int] | None = None  # (sha, slot of its KEYS) of the script running
    ran: list[tuple[str, int, list[bytes]]] = []  # (sha, slot, command) run inside scripts
    for line in lines:
        if not line.startswith("+") or "]" not in line:
            continue
        args = _tokens(line)
        if not args:
            continue
        if " lua]" not in line:
            current = None
            if args[0].lower() == b"evalsha" and int(args[2]) > 0:
                sha, declared = args[1].decode(), args[3 : 3 + int(args[2])]
                ours = declared[1:] if sha in user_first else declared
                if len({slot_of(k) for k in ours}) > 1:
                    strays[sha] |= set(ours)
                seen.add(sha)
                current = (sha, slot_of(ours[0]))
        elif current is not None:
            if current[0] in user_first and args[1:2] == [declared[0]]:
                continue  # a command on the user's own list or stream (declared)
            ran.append((*current, args))
    for (sha, slot, _), keys in zip(ran, finder.keys([c for _, _, c in ran]), strict=True):
        strays[sha] |= {k for k in keys if slot_of(k) != slot}
    return seen, {sha: keys for sha, keys in strays.items() if keys}
