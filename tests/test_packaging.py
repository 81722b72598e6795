"""tandemq installs one import package, ``tandemq``, and an app whose own packages are named
``common``, ``processor`` and ``distributor`` (the repository's folder names) still works."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

from tests.support import subprocess_env

ROOT = Path(__file__).resolve().parent.parent

_APP = textwrap.dedent(
    """
    import asyncio

    from pydantic import BaseModel

    import common, distributor, processor  # the app's own packages, not tandemq's
    from tandemq import Distributor, Processor, TaskContext


    class Ping(BaseModel):
        word: str


    async def main() -> None:
        assert common.MINE and distributor.MINE and processor.MINE
        done = asyncio.Event()
        worker = Processor.from_env()

        @worker.handler(Ping)
        async def ping(p: Ping, ctx: TaskContext) -> None:
            print("handled", p.word, flush=True)
            done.set()

        async with Distributor.from_env() as d:
            await d.send(Ping(word="clash-free"))
        async with worker:
            await asyncio.wait_for(done.wait(), 20)


    asyncio.run(main())
    """
)


def test_an_app_with_its_own_common_processor_and_distributor_runs_tandemq(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    for name in ("common", "processor", "distributor"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("MINE = True\n")
    (tmp_path / "app.py").write_text(_APP)
    proc = subprocess.run(
        [sys.executable, "app.py"],
        cwd=tmp_path,  # the app's folder comes first on sys.path, as for any script
        env=subprocess_env(REDIS_URL=redis_url, TANDEMQ_PREFIX=prefix),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "handled clash-free" in proc.stdout


def test_the_wheel_holds_one_top_level_package(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("tandemq-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert top == {"tandemq"}
    for needed in (
        "tandemq/common/lua/enqueue.lua",
        "tandemq/processor/py.typed",
        "tandemq/dashboard/templates/base.html",  # the dashboard's vendored assets: no CDN
        "tandemq/dashboard/static/dashboard.js",
        "tandemq/dashboard/static/dashboard.css",
    ):
        assert needed in names
    assert not any(Path(n).suffix == ".pyc" for n in names)
