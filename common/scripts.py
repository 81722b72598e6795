"""The Lua scripts, read once from ``common/lua/*.lua`` and called by SHA.

Each script is prefixed with ``_lib.lua`` (the shared lease check and wake-up push) before its
SHA is taken. Calls use EVALSHA; when Redis answers NOSCRIPT (it restarted, or SCRIPT FLUSH
ran) the caller loads every script again and repeats the call: see ``Broker._call``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

_LUA = Path(__file__).with_name("lua")

_NAMES = (
    "enqueue",
    "enqueue_many",
    "dequeue",
    "ack",
    "retry",
    "archive",
    "forward",
    "recover",
    "extend",
    "requeue",
    "reclaim",
    "trim",
    "defer",
)


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    source: str
    sha: str


def _read(name: str) -> str:
    return (_LUA / f"{name}.lua").read_text("utf-8")


def _load_all() -> dict[str, Script]:
    lib = _read("_lib")
    scripts = {}
    for name in _NAMES:
        source = f"{lib}\n-- {name}.lua\n{_read(name)}"
        scripts[name] = Script(name, source, hashlib.sha1(source.encode()).hexdigest())
    return scripts


SCRIPTS: dict[str, Script] = _load_all()
