"""The machine description that goes with the numbers."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

from .libraries import Library


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def library_version(lib: Library) -> str:
    code = f"import importlib.metadata as m; print(m.version({lib.version_of or lib.name!r}))"
    try:
        done = subprocess.run(
            [str(lib.python), "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return "not installed"
    return done.stdout.strip()


def describe(redis_version: str, libs: list[Library], pinned: bool) -> list[tuple[str, str]]:
    versions = ", ".join(f"{lib.name} {library_version(lib)}" for lib in libs)
    return [
        ("date", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", cpu_model()),
        ("cores", str(os.cpu_count())),
        ("OS", platform.platform()),
        ("Redis", redis_version),
        ("Python", platform.python_version()),
        ("libraries", versions),
        ("pinning", "Redis on core 0, measured process on core 1" if pinned else "none"),
    ]
