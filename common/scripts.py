"""The Lua scripts, read once from ``common/lua/*.lua`` and called by SHA.

Each script is prefixed with ``_lib.lua`` (the helpers every script shares) before its SHA is
taken, so Redis numbers a script's lines from the start of ``_lib.lua``: ``Script.where`` maps
such a line number back to the file it is in. Calls use EVALSHA; when Redis answers NOSCRIPT
(it restarted, or SCRIPT FLUSH ran) the transport loads every script again and repeats the
call (common/transport.py). A new script: add ``common/lua/<name>.lua`` and its name here.
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


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    source: str
    sha: str
    lib_lines: int  # lines of the loaded source before the script's own first line

    def where(self, line: int) -> str:
        """``common/lua/<file>.lua:<line>`` for a line number of the loaded source."""
        if line > self.lib_lines:
            return f"common/lua/{self.name}.lua:{line - self.lib_lines}"
        return f"common/lua/_lib.lua:{line}"


def _read(name: str) -> str:
    return (_LUA / f"{name}.lua").read_text("utf-8")


def _load_all() -> dict[str, Script]:
    # The default keep window comes from one place, common/task.py (see keep_ms in _lib.lua);
    # put on _lib's first line (a comment), so line numbers still match the file's.
    lib = f"local DEFAULT_KEEP_MS = {DEFAULT_KEEP_MS} {_read('_lib')}"
    scripts = {}
    for name in _NAMES:
        head = f"{lib}\n-- {name}.lua\n"
        source = head + _read(name)
        sha = hashlib.sha1(source.encode()).hexdigest()
        scripts[name] = Script(name, source, sha, lib_lines=head.count("\n"))
    for name, parts in _COMPOSED.items():
        # Lines are numbered from the first part on (where() names the composed script).
        head = f"{lib}\n"
        source = head + "\n".join(f"-- {part}.lua\n{_read(part)}" for part in parts)
        sha = hashlib.sha1(source.encode()).hexdigest()
        scripts[name] = Script(name, source, sha, lib_lines=head.count("\n"))
    return scripts


SCRIPTS: dict[str, Script] = _load_all()
