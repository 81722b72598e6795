"""Idle cost against the number of queues: CPU of an idle processor and of its Redis.

``python -m bench.idle [--queues 10,1000,10000] [--seconds 10]`` starts a private Redis (as
the bench does), then for each count a ``tandemq run`` daemon listening on that many empty
queues, waits until it has started and settled, and reads both processes' CPU time from
/proc over the window: percent of one core. Linux only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel

from bench.redis_server import RedisServer
from tandemq.processor import Processor, TaskContext

_TICKS = os.sysconf("SC_CLK_TCK")


class Nothing(BaseModel):
    tandemq_type: ClassVar[str] = "bench.idle.nothing"


def processor() -> Processor:
    """The daemon's target: one handler, queues from TANDEMQ_QUEUES."""
    p = Processor.from_env()

    @p.handler(Nothing)
    async def nothing(task: Nothing, ctx: TaskContext) -> None:
        return None

    return p


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def measure(url: str, redis_pid: int, queues: int, seconds: float) -> tuple[float, float]:
    """(processor %, Redis %) of one core while idle on ``queues`` queues."""
    spec = ",".join(f"q{i}" for i in range(queues))
    with tempfile.NamedTemporaryFile("w+b", suffix=".log") as log:
        env = {**os.environ, "REDIS_URL": url, "TANDEMQ_QUEUES": spec,
               "TANDEMQ_PREFIX": f"idle{queues}", "TANDEMQ_LOG_FORMAT": "json"}  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "-m", "tandemq", "bench.idle:processor"], env=env, stderr=log
        )
        try:
            deadline = time.monotonic() + 120
            while b'"processor.started"' not in Path(log.name).read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(Path(log.name).read_text()[-2000:])
                time.sleep(0.1)
            time.sleep(3.0)  # settle: start-up work (sweeps, first fetch) is not idle cost
            p0, r0, t0 = _cpu_seconds(proc.pid), _cpu_seconds(redis_pid), time.monotonic()
            time.sleep(seconds)
            p1, r1, t1 = _cpu_seconds(proc.pid), _cpu_seconds(redis_pid), time.monotonic()
        finally:
            proc.terminate()
            proc.wait(60)
    span = t1 - t0
    return 100 * (p1 - p0) / span, 100 * (r1 - r0) / span


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queues", default="10,1000,10000")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with RedisServer() as server:
        redis_pid = server.pid
        print("| queues | processor CPU | Redis CPU |")
        print("|---:|---:|---:|")
        for count in (int(q) for q in args.queues.split(",")):
            proc_cpu, redis_cpu = measure(server.url, redis_pid, count, args.seconds)
            print(f"| {count:,} | {proc_cpu:.1f}% | {redis_cpu:.1f}% |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
