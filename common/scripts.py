"""The Lua scripts, read once from ``common/lua/*.lua`` and called by SHA.

Each script is prefixed with ``_lib.lua`` (the helpers every script shares) before its SHA is
taken, so Redis numbers a script's lines from the start of ``_lib.lua``: ``Script.where``
maps such a line number back to the file it is in (composed scripts join several files).
Only the helpers a script calls are kept; the lines of the others are left blank (so line
numbers still match): Redis runs a script's whole text on every call, and making a closure
for each of ``_lib.lua``'s helpers was half of what a small script cost Redis (push_envelope:
12.2 against 5.7 µs a call, INFO commandstats on this machine).
Calls use EVALSHA; when Redis answers NOSCRIPT (it restarted, or SCRIPT FLUSH ran) the
transport loads every script again and repeats the call (common/transport.py). A new
script: add ``common/lua/<name>.lua`` and its name here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .task import DEFAULT_KEEP_MS

_LUA = Path(__file__).with_name("lua")
_DEFINITION = re.compile(r"local function (\w+)\(")
_COMMENT = re.compile(r"--[^\n]*")

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


def _helpers(lib_lines: list[str]) -> dict[str, tuple[int, int]]:
    """``_lib.lua``'s helpers by name: the first and last line (0-based) of each definition,
    ``local function name(`` at the start of a line to the ``end`` that closes it there."""
    found: dict[str, tuple[int, int]] = {}
    for first, line in enumerate(lib_lines):
        if match := _DEFINITION.match(line):
            last = lib_lines.index("end", first)
            found[match.group(1)] = (first, last)
    return found


def _called(helpers: dict[str, tuple[int, int]], lib_lines: list[str], body: str) -> set[str]:
    """The helpers ``body`` names outside comments, the helpers those name, and so on. Any
    mention counts, a call or not: keeping one too many costs a little time, one too few
    fails the script."""
    kept: set[str] = set()
    texts = [body]
    while texts:
        text = _COMMENT.sub("", texts.pop())
        for name, (first, last) in helpers.items():
            if name not in kept and re.search(rf"\b{name}\b", text):
                kept.add(name)
                texts.append("\n".join(lib_lines[first + 1 : last + 1]))
    return kept


def _pruned_lib(lib: str, body: str) -> str:
    """``lib`` (``_lib.lua``) with every helper ``body`` does not call blanked out, line for
    line."""
    lines = lib.split("\n")
    helpers = _helpers(lines)
    for name in helpers.keys() - _called(helpers, lines, body):
        first, last = helpers[name]
        lines[first : last + 1] = [""] * (last + 1 - first)
    return "\n".join(lines)


def _joined(name: str, files: tuple[str, ...]) -> Script:
    """``_lib.lua`` (only what ``files`` call) and ``files`` as one script, each file after
    a comment naming it."""
    lib, body, starts = _lib(), "", [("_lib", 1)]
    lib_end = lib.count("\n")
    for file in files:
        body += f"\n-- {file}.lua\n"
        starts.append((file, lib_end + body.count("\n") + 1))
        body += _read(file)
    source = _pruned_lib(lib, body) + body
    return Script(name, source, hashlib.sha1(source.encode()).hexdigest(), tuple(starts))


def _load_all() -> dict[str, Script]:
    scripts = {name: _joined(name, (name,)) for name in _NAMES}
    for name, parts in _COMPOSED.items():
        scripts[name] = _joined(name, parts)
    return scripts


SCRIPTS: dict[str, Script] = _load_all()
