"""``tandemq run --workers N``: N processor processes under one supervisor.

Python runs one core per process, so using every core takes processes. The supervisor starts
each worker as ``python -m tandemq run <target>``, forwards SIGTERM/SIGINT to all of them, and
restarts a worker that exits while it is not stopping (a crashed worker's leased tasks are
recovered by the others when their lease expires, as with any dead processor). It exits 0
once every worker has stopped cleanly after a signal.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable

from tandemq.common.logging import get_logger

RESTART_DELAY = 1.0  # seconds before restarting a crashed worker: no tight crash loop
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Supervisor:
    def __init__(self, target: str, workers: int) -> None:
        self.target = target
        self.count = workers
        self.stopping = False
        self.procs: list[subprocess.Popen[bytes]] = []
        self._log = get_logger(__name__, supervisor=os.getpid())

    def _spawn(self, index: int) -> subprocess.Popen[bytes]:
        env = {**os.environ, "TANDEMQ_WORKERS": "1"}
        port = os.environ.get("TANDEMQ_METRICS_PORT", "")
        if port.isdigit() and int(port) > 0:  # one ops port per worker: base, base+1, ...
            env["TANDEMQ_METRICS_PORT"] = str(int(port) + index)
        return subprocess.Popen(
            [sys.executable, "-m", "tandemq", "run", self.target],
            env=env,
            preexec_fn=_stop_with_parent(os.getpid()) if sys.platform == "linux" else None,  # noqa: PLW1509 - the supervisor runs no threads
        )

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stopping = True
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.procs = [self._spawn(i) for i in range(self.count)]
        self._log.info("supervisor.started", workers=[p.pid for p in self.procs])
        codes: dict[int, int] = {}
        while len(codes) < len(self.procs) or not self.stopping:
            for i, proc in enumerate(self.procs):
                code = proc.poll()
                if code is None or i in codes:
                    continue
                if self.stopping:
                    codes[i] = code
                else:
                    self._log.error(
                        "worker.exited", pid=proc.pid, code=code, restart_in=RESTART_DELAY
                    )
                    time.sleep(RESTART_DELAY)
                    if not self.stopping:
                        self.procs[i] = self._spawn(i)
                    if not self.stopping:
                        continue
                    if self.procs[i] is proc:
                        codes[i] = code
                    else:  # the signal came while it was being spawned: it missed it
                        self.procs[i].send_signal(signal.SIGTERM)
            time.sleep(0.05)
        self._log.info("supervisor.stopped", codes=list(codes.values()))
        return _exit_code(codes.values())


def _stop_with_parent(parent: int) -> Callable[[], None]:
    """In the child before exec (Linux): ask the kernel for SIGTERM when the supervisor dies,
    even by SIGKILL, so a worker never runs on orphaned (it stops gracefully: its tasks go
    back to pending). If the supervisor died before the request was made, stop at once."""

    def request() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return request


def _exit_code(codes: Iterable[int]) -> int:
    """0 when every worker stopped cleanly, else the first failure; a worker killed by a
    signal (a negative code from Popen) counts as 128 + the signal, as a shell reports it."""
    for code in codes:
        if code != 0:
            return 128 - code if code < 0 else code
    return 0
