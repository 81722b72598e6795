"""A relay with a fault hook, run as a real subprocess by the crash test:
``python -m tests.outbox.faulty_relay relay --database-url ... --table ...``.

After its first batch is written to Redis and before the rows are deleted, it writes the file
named by OUTBOX_FAULT_FILE and hangs, so the test can SIGKILL it exactly in that window.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tandemq.common.broker import NewTask
from tandemq.outbox import Relay
from tandemq.outbox.__main__ import main


class HangAfterRedisWrite(Relay):
    async def _send(self, tasks: list[NewTask]) -> None:
        await super()._send(tasks)
        marker = Path(os.environ["OUTBOX_FAULT_FILE"])
        await asyncio.to_thread(marker.write_text, ",".join(t.id for t in tasks))
        await asyncio.Event().wait()  # killed here: written to Redis, rows not yet deleted


if __name__ == "__main__":
    sys.exit(main(relay_class=HangAfterRedisWrite))
