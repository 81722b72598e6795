"""Runs one measurement of one library in a fresh subprocess and reads its result line."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from dataclasses import dataclass

from .libraries import ROOT, Library
from .peers._harness import RESULT_MARKER
from .redis_server import MEASURED_CORE, RedisServer, pinned

LATENCY_TASKS = 500
TIMEOUT_SECONDS = 1800


@dataclass(frozen=True)
class Measurement:
    key: str  # the peer module's measurement name
    fixed_n: int | None = None  # a count that does not follow --n (latency: 500 tasks)
    cores: str = MEASURED_CORE  # process2 spreads over every core: it is two processes


MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement("enqueue_seq"),
    Measurement("enqueue_conc"),
    Measurement("enqueue_bulk"),
    Measurement("process"),
    Measurement("process2", cores="0,1"),
    Measurement("latency", fixed_n=LATENCY_TASKS),
    Measurement("memory"),
)
SCALE = (Measurement("scale_base"), Measurement("scale_sched"))
SCALE_1M = Measurement("scale_1m")

Result = dict[str, float | None]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(ROOT), TANDEMQ_LOG_LEVEL="WARNING", PYTHONWARNINGS="ignore")
    return env


def run_once(lib: Library, m: Measurement, server: RedisServer, n: int) -> Result:
    """One fresh process on an empty server; {} when it failed (shown as "-")."""
    server.flush()
    count = m.fixed_n or n
    cmd = [*pinned(m.cores), str(lib.python), "-m", lib.module, m.key]
    cmd += ["--url", server.url, "--n", str(count)]
    try:
        done = subprocess.run(
            cmd,
            check=False,
            cwd=ROOT,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        print(f"  {lib.name} {m.key}: timed out")
        return {}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            result: Result = json.loads(line.removeprefix(RESULT_MARKER))
            return result
    tail = "\n    ".join(done.stderr.strip().splitlines()[-5:])
    print(f"  {lib.name} {m.key}: failed (exit {done.returncode})\n    {tail}")
    return {}


def median_of(results: list[Result]) -> Result:
    """Per field, the median over the runs that produced it."""
    fields = {key for r in results for key in r}
    merged: Result = {}
    for key in sorted(fields):
        values = [v for r in results if (v := r.get(key)) is not None]
        merged[key] = statistics.median(values) if values else None
    return merged


def measure(lib: Library, m: Measurement, server: RedisServer, n: int, runs: int) -> Result:
    results = []
    for _ in range(runs):
        result = run_once(lib, m, server, n)
        results.append(result)
        if result.get("value", 0) is None:
            break  # the library has no API for it: once is enough
    merged = median_of(results)
    print(f"  {lib.name:14} {m.key:13} {_short(merged)}", flush=True)
    return merged


def _short(result: Result) -> str:
    return ", ".join(f"{k}={v:,.1f}" if v is not None else f"{k}=-" for k, v in result.items())
