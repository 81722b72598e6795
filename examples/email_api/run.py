"""One command for the email API example: Redis, the processor and the web app.

    python examples/email_api/run.py [--embedded] [--port 8000]

Uses REDIS_URL, else a Redis on localhost:6379, else starts redis-server (or the bundled
valkey-server) for the run (see examples/devredis.py). Without ``--embedded`` the processor
runs as its own process (``tandemq run``), as in production; with it, inside the web app.
Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere

from examples.launch import serve


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedded", action="store_true", help="processor inside the web app")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    if args.embedded:
        os.environ["EMAIL_API_EMBEDDED_PROCESSOR"] = "1"
    worker = None if args.embedded else "examples.email_api.worker:make_processor"
    return serve(
        "examples.email_api.app:app", worker, args.port, "(outbox: .tandemq/email-outbox.jsonl)"
    )


if __name__ == "__main__":
    sys.exit(main())
