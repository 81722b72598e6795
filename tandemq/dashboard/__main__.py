"""``python -m tandemq.dashboard [--host H] [--port P] [--read-only]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tandemq.common.errors import ConfigError

from .server import DEFAULT_HOST, DEFAULT_PORT, serve


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tandemq.dashboard")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--read-only", action="store_true", help="refuse every action")
    options = parser.parse_args(argv)
    try:
        serve(options.host, options.port, read_only=options.read_only)
    except ConfigError as exc:
        print(f"tandemq dashboard: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
