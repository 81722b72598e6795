"""The Lua scripts, read once from ``common/lua/*.lua`` and called by SHA.

Each script is prefixed with ``_lib.lua`` (the helpers every script shares) before its SHA is
taken, so Redis numbers a script's lines from the start of ``_lib.lua``: ``Script.where``
maps such a line number back to the file it is in (composed scripts join several files).
Calls use EVALSHA; when Redis answers NOSCRIPT (it restarted, or SCRIPT FLUSH ran) the
transport loads every script again and repeats the call (common/transport.py). A new
script: add ``common/lua/<name>.lua`` and its name here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .task import DEFAULT_KEEP_MS

_LUA = Path(__file__).with_name("lua")

_NAMES = (
    "enqueue",
    "enqueue_many",
    "push_envelope",
    "find_envelope",
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
    "orphans",
    "mark",
    "due_settle",
    # results, waiting and cancellation (docs/RESULTS.md)
    "ack_result",
    "watch",
    "cancel",
    "canceled",
    "intake_list",
    "intake_recover",
    "intake_stream",
    "take",
    "take_recover",
    # the operating surface (tandemq/inspector)
    "task_action",
    "bulk_action",
    "peek",
)

# Scripts made of several files, run in order as one chunk (a guard in front of a shared body).
_COMPOSED = {
    "cron_enqueue": ("cron_guard", "enqueue"),  # processor/cron.py: each tick enqueued once
}


# Scripts whose first try does not check whether it ran before, because the check walks a
# list (push_envelope.lua): by name, the index in ARGV (0-based) of their mode flag, whose
# "e" (push) becomes "c" (push unless an earlier attempt landed) in a call that may be a
# repeat: every call through redis-py (which retries on its own) and every resend.
CHECK_ON_RESEND = {"push_envelope": 3, "enqueue_many": 4}


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    source: str
    sha: str
    files: tuple[tuple[str, int], ...]  # each file joined in, and the source line it starts on

    def where(self, line: int) -> str:
        """``common/lua/<file>.lua:<line>`` for a line number of the loaded source."""
        file, first = next((f, start) for f, start in reversed(self.files) if start <= line)
        return f"common/lua/{file}.lua:{line - first + 1}"


def _read(name: str) -> str:
    return (_LUA / f"{name}.lua").read_text("utf-8")


def _lib() -> str:
    """``_lib.lua``, with the default keep window from its one place, common/task.py (see
    keep_ms in _lib.lua), put on its first line (a comment), so line numbers still match."""
    return f"local DEFAULT_KEEP_MS = {DEFAULT_KEEP_MS} {_read('_lib')}"


def _joined(name: str, files: tuple[str, ...]) -> Script:
    """``_lib.lua`` and ``files`` as one script, each file after a comment naming it."""
    source, starts = _lib(), [("_lib", 1)]
    for file in files:
        source += f"\n-- {file}.lua\n"
        starts.append((file, source.count("\n") + 1))
        source += _read(file)
    return Script(name, source, hashlib.sha1(source.encode()).hexdigest(), tuple(starts))


def _load_all() -> dict[str, Script]:
    scripts = {name: _joined(name, (name,)) for name in _NAMES}
    for name, parts in _COMPOSED.items():
        scripts[name] = _joined(name, parts)
    return scripts


SCRIPTS: dict[str, Script] = _load_all()
