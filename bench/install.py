"""Creates each peer's venv under bench/.venvs and installs its pinned packages once.

A venv is reinstalled only when its pin list changed (kept in a marker file beside it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .libraries import VENVS, Library

MARKER = ".bench-pins"


def _pins(libs: list[Library]) -> dict[str, tuple[str, ...]]:
    venvs: dict[str, tuple[str, ...]] = {}
    for lib in libs:
        if lib.venv is not None:
            venvs[lib.venv] = lib.packages
    return venvs


def _install(venv: Path, packages: tuple[str, ...]) -> bool:
    marker = venv / MARKER
    wanted = "\n".join(packages)
    if marker.exists() and marker.read_text() == wanted:
        return True
    print(f"installing {venv.name}: {' '.join(packages)}", flush=True)
    if not (venv / "bin" / "python").exists():
        # the venv module of the base interpreter, so a peer venv does not nest in ours
        base = Path(getattr(sys, "_base_executable", sys.executable))
        subprocess.run([str(base), "-m", "venv", str(venv)], check=True)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    done = subprocess.run([*pip, *packages], check=False)
    if done.returncode != 0:
        print(f"install of {venv.name} failed; its rows will show '-'", file=sys.stderr)
        return False
    marker.write_text(wanted)
    return True


def install(libs: list[Library]) -> set[str]:
    """Install what ``libs`` need; return the names of venvs that failed."""
    VENVS.mkdir(parents=True, exist_ok=True)
    return {name for name, pins in _pins(libs).items() if not _install(VENVS / name, pins)}
