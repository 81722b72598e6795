"""Run the real ``tandemq`` command in a subprocess: piped (as a script would), or on a
pseudo-terminal (as a person would), against the test's Redis and prefix."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.support import subprocess_env

ROOT = Path(__file__).resolve().parents[2]
TANDEMQ = Path(sys.executable).with_name("tandemq")


@dataclass
class Result:
    code: int
    out: str
    err: str


async def tandemq(*args: str, **env: str) -> Result:
    """``tandemq ARGS`` with stdout and stderr piped; waits for it to end."""
    proc = await asyncio.create_subprocess_exec(
        str(TANDEMQ),
        *args,
        cwd=ROOT,
        env=subprocess_env(**env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


class Terminal:
    """``tandemq ARGS`` on a pseudo-terminal: reads what it draws until a condition holds."""

    def __init__(self, *args: str, **env: str) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.proc = subprocess.Popen(
            [str(TANDEMQ), *args],
            cwd=ROOT,
            env=subprocess_env(COLUMNS="160", LINES="50", TERM="xterm", **env),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            close_fds=True,
        )
        os.close(slave)
        self.screen = b""

    def read_until(self, done: Callable[[str], bool], timeout: float = 30) -> str:
        """Read until ``done(text)`` is true or the terminal closed; return what was read."""
        deadline = time.monotonic() + timeout
        while not done(self.screen.decode(errors="replace")):
            if time.monotonic() > deadline:
                raise AssertionError(f"not seen within {timeout}s; screen: {self.screen!r}")
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the process ended and closed its side
                    break
                if not chunk:
                    break
                self.screen += chunk
        return self.screen.decode(errors="replace")

    def wait(self, timeout: float = 30) -> int:
        """Read everything until the process closed the terminal; its exit code."""
        self.read_until(lambda _: False, timeout)
        return self.proc.wait(timeout)

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
