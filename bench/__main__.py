"""``python -m bench``: tandemq against its peers. ``--help`` for the options."""

from __future__ import annotations

import argparse
import sys

from .run import main

FULL_N = 20_000
QUICK_N = 2_000


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"n={QUICK_N}, 1 run (development)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement; median shown")
    parser.add_argument("--n", type=int, default=None, help=f"tasks per measurement ({FULL_N})")
    parser.add_argument("--only", help="comma-separated libraries, e.g. tandemq,arq,taskiq")
    parser.add_argument("--skip-install", action="store_true", help="use the venvs as they are")
    parser.add_argument("--scale", action="store_true", help="also 1,000,000 pending (tandemq)")
    parser.add_argument("--measurements", help="comma-separated keys, e.g. scale_base,scale_1m")
    parser.add_argument("--merge", action="store_true", help="add to the last run's results")
    parser.add_argument("--write-docs", action="store_true", help="also write PERFORMANCE.md")
    args = parser.parse_args(argv)
    if args.n is None:
        args.n = QUICK_N if args.quick else FULL_N
    if args.quick:
        args.runs = 1
    return args


if __name__ == "__main__":
    sys.exit(main(parse(sys.argv[1:])))
