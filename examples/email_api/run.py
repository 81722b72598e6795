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
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere

import uvicorn

from examples.devredis import dev_redis

ROOT = Path(__file__).resolve().parents[2]
WORKER = "examples.email_api.worker:processor"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedded", action="store_true", help="processor inside the web app")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    os.chdir(ROOT)
    with dev_redis() as (url, where):
        print(f"email_api: Redis {url} ({where}); outbox file .tandemq/email-outbox.jsonl")
        os.environ["REDIS_URL"] = url
        os.environ.setdefault("TANDEMQ_LOG_FORMAT", "console")
        worker = None
        if args.embedded:
            os.environ["EMAIL_API_EMBEDDED_PROCESSOR"] = "1"
        else:
            worker = subprocess.Popen([sys.executable, "-m", "tandemq", "run", WORKER])
        try:
            uvicorn.run("examples.email_api.app:app", host="127.0.0.1", port=args.port)
        finally:
            if worker is not None:
                worker.terminate()  # SIGTERM: the processor finishes what it runs, exits 0
                worker.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
