"""One command for the signup example: Redis, the worker (processor + outbox relay) and the
web app, with a SQLite database under .tandemq/ (set DATABASE_URL for PostgreSQL).

    python examples/signup/run.py [--port 8000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere

from examples.launch import serve


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    return serve("examples.signup.app:app", "examples.signup.worker:make_processor", args.port)


if __name__ == "__main__":
    sys.exit(main())
