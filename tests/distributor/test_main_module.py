"""Issue 10, item 7: a model defined in a script run by path is named ``__main__.X``, which no
processor registers: send refuses it, saying how to fix it. Run as ``python -m pkg.mod``, the
model gets its import name and sends normally."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import subprocess_env

SCRIPT = """
import asyncio
from pydantic import BaseModel
from tandemq import Distributor, MainModuleType

class SendVerifyEmail(BaseModel):
    to: str

async def main() -> None:
    async with Distributor(redis_url={url!r}, prefix={prefix!r}) as d:
        try:
            info = await d.send(SendVerifyEmail(to="a@example.com"))
        except MainModuleType as exc:
            print("REFUSED", exc)
        else:
            print("SENT", info.type)

asyncio.run(main())
"""


def _run(tmp_path: Path, args: list[str], url: str, prefix: str) -> str:
    (tmp_path / "pkg").mkdir(exist_ok=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sender.py").write_text(SCRIPT.format(url=url, prefix=prefix))
    done = subprocess.run(
        [sys.executable, *args], cwd=tmp_path, env=subprocess_env(), capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_send_refuses_a_model_of_a_script_run_by_path(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    out = _run(tmp_path, ["pkg/sender.py"], redis_url, prefix)
    assert "REFUSED" in out
    assert "__main__.SendVerifyEmail" in out and "tandemq_type" in out and "module" in out


def test_a_model_of_a_module_run_with_dash_m_gets_its_import_name(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    out = _run(tmp_path, ["-m", "pkg.sender"], redis_url, prefix)
    assert "SENT pkg.sender.SendVerifyEmail" in out.splitlines()
