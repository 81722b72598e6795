"""The run: install, start Redis, measure every library, report."""

from __future__ import annotations

import argparse
import sys

from . import document, install, report
from .libraries import LIBRARIES, Library, select
from .machine import describe
from .measure import MEASUREMENTS, SCALE, SCALE_1M, Measurement, measure_rounds, short
from .redis_server import MEASURED_CORE, RedisServer, pinned
from .targets import SUBJECT, Results, evaluate


def _plan(lib: Library, args: argparse.Namespace) -> list[Measurement]:
    plan = list(MEASUREMENTS)
    if lib.name == SUBJECT:  # 2 workers and backlogs are tandemq's own targets
        plan += [*SCALE, *([SCALE_1M] if args.scale else [])]
    else:
        plan = [m for m in plan if m.key != "process2"]
    if args.measurements:
        wanted = set(args.measurements.split(","))
        plan = [m for m in plan if m.key in wanted]
    return plan


def _measure_all(libs: list[Library], broken: set[str], args: argparse.Namespace) -> Results:
    plans = [(lib, [] if lib.venv in broken else _plan(lib, args)) for lib in libs]
    with RedisServer() as server:
        args.redis_version = server.version()
        results = measure_rounds(plans, server, args.n, args.runs)
    for lib, plan in plans:
        for m in plan:
            print(f"  {lib.name:14} {m.key:13} {short(results[lib.name][m.key])} (median)")
    return results


def _command() -> str:
    return " ".join(["python -m bench", *sys.argv[1:]])


def main(args: argparse.Namespace) -> int:
    libs = select(args.only)
    broken = set() if args.skip_install else install.install(libs)
    print(f"measuring {', '.join(lib.name for lib in libs)}: n={args.n}, runs={args.runs}")
    results = _measure_all(libs, broken, args)
    commands = [_command()] if any(results.values()) else []  # "--measurements none": report only
    if args.merge:
        results, commands = document.merge_saved(results, commands)
    document.save_raw(results, commands)
    targets = evaluate(results) if SUBJECT in results else []
    sections = [("Results", report.results_table(results))]
    if targets:
        sections += [
            ("tandemq targets", report.targets_table(targets)),
            ("tandemq with a backlog", report.scale_table(results, args.n)),
        ]
    shown = [lib for lib in LIBRARIES if lib.name in results]  # with --merge, more than libs
    machine = describe(args.redis_version, shown, bool(pinned(MEASURED_CORE)))
    text = document.render(commands, machine, sections)
    print("\n" + "\n\n".join(body for _, body in sections))
    print(f"\nwritten: {document.write_latest(text)}")
    if args.write_docs:
        print(f"written: {document.write_docs(text)}")
    return 0
