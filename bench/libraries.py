"""The libraries measured: where each one's measurement module lives and what its venv holds.

Versions are the exact ones pip resolved on this machine for arq 0.28, saq 0.26, streaq 7,
taskiq 0.13 + taskiq-redis 1.2 and RQ 3.0. Each peer gets a venv of its own: arq pins
redis-py < 6, streaq brings coredis, and separate venvs keep one peer's pins off another.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / "bench" / ".venvs"
REPO_PYTHON = ROOT / ".venv" / "bin" / "python"


@dataclass(frozen=True)
class Library:
    name: str  # the table row and the --only key
    module: str  # run as ``python -m <module> <measurement>``
    venv: str | None  # directory under bench/.venvs; None = the repo's own venv
    packages: tuple[str, ...] = ()
    version_of: str = ""  # distribution whose version the report shows

    @property
    def python(self) -> Path:
        return REPO_PYTHON if self.venv is None else VENVS / self.venv / "bin" / "python"


LIBRARIES: tuple[Library, ...] = (
    Library("tandemq", "bench.peers.tandemq", None, version_of="tandemq"),
    Library(
        "arq",
        "bench.peers.arq",
        "arq",
        ("arq==0.28.0", "redis==5.3.1", "hiredis==3.5.0", "uvloop==0.23.0"),
        "arq",
    ),
    Library(
        "saq",
        "bench.peers.saq",
        "saq",
        # saq 0.26.4 imports typing_extensions without declaring it
        ("saq[hiredis]==0.26.4", "redis==8.1.0", "typing_extensions==4.16.0", "uvloop==0.23.0"),
        "saq",
    ),
    Library(
        "streaq",
        "bench.peers.streaq",
        "streaq",
        # streaq talks to Redis through coredis, which has no hiredis option
        ("streaq==7.2.0", "coredis==6.9.0", "uvloop==0.23.0"),
        "streaq",
    ),
    Library(
        "taskiq-stream",
        "bench.peers.taskiq_stream",
        "taskiq",
        (
            "taskiq==0.13.0",
            "taskiq-redis==1.2.4",
            "redis==8.1.0",
            "hiredis==3.5.0",
            "uvloop==0.23.0",
        ),
        "taskiq",
    ),
    Library(
        "taskiq-list",
        "bench.peers.taskiq_list",
        "taskiq",
        (
            "taskiq==0.13.0",
            "taskiq-redis==1.2.4",
            "redis==8.1.0",
            "hiredis==3.5.0",
            "uvloop==0.23.0",
        ),
        "taskiq",
    ),
    Library("rq", "bench.peers.rq", "rq", ("rq==3.0.0", "redis==8.1.0", "hiredis==3.5.0"), "rq"),
)


def select(only: str | None) -> list[Library]:
    """``--only tandemq,taskiq``: a name picks that row; "taskiq" picks both taskiq rows."""
    if not only:
        return list(LIBRARIES)
    wanted = {w.strip() for w in only.split(",") if w.strip()}
    picked = [lib for lib in LIBRARIES if lib.name in wanted or lib.name.split("-")[0] in wanted]
    unknown = wanted - {lib.name for lib in picked} - {lib.name.split("-")[0] for lib in picked}
    if unknown:
        raise SystemExit(f"unknown libraries: {', '.join(sorted(unknown))}")
    return picked
