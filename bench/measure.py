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

# p99 of 500 samples is the 5th-worst one: on a shared VM it flipped the order of libraries
# from run to run. 2,000 (10 s a run) makes it the 20th-worst, stable enough to compare.
LATENCY_TASKS = 2_000
TIMEOUT_SECONDS = 1800


@dataclass(frozen=True)
class Measurement:
    key: str  # the peer module's measurement name
    fixed_n: int | None = None  # a count that does not follow --n (latency: LATENCY_TASKS)
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


def measure_rounds(
    plans: list[tuple[Library, list[Measurement]]], server: RedisServer, n: int, runs: int
) -> dict[str, dict[str, Result]]:
    """Every library's measurements, ``runs`` rounds of each, the median of the rounds per
    library and measurement. Round by round, not library by library: a slow spell of a
    shared machine then falls on every library alike instead of on whichever ran during it."""
    done: dict[tuple[str, str], list[Result]] = {}
    for round_ in range(1, runs + 1):
        for lib, plan in plans:
            for m in plan:
                results = done.setdefault((lib.name, m.key), [])
                if results and results[-1].get("value", 0) is None:
                    continue  # the library has no API for it: once is enough
                results.append(run_once(lib, m, server, n))
                print(
                    f"  {round_}/{runs} {lib.name:14} {m.key:13} {short(results[-1])}", flush=True
                )
    merged: dict[str, dict[str, Result]] = {lib.name: {} for lib, _ in plans}
    for (name, key), results in done.items():
        merged[name][key] = median_of(results)
    return merged


def short(result: Result) -> str:
    return ", ".join(f"{k}={v:,.1f}" if v is not None else f"{k}=-" for k, v in result.items())
