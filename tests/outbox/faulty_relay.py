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

from tandemq.common.task import NewTask
from tandemq.outbox import Relay
from tandemq.outbox.__main__ import main


class HangAfterRedisWrite(Relay):
    async def _send(self, tasks: list[NewTask]) -> None:
        await super()._send(tasks)
        marker = Path(os.environ["OUTBOX_FAULT_FILE"])
        partial = marker.with_suffix(".partial")  # renamed when complete: the test waits on it
        await asyncio.to_thread(partial.write_text, ",".join(t.id for t in tasks))
        partial.rename(marker)
        await asyncio.Event().wait()  # killed here: written to Redis, rows not yet deleted


if __name__ == "__main__":
    sys.exit(main(relay_class=HangAfterRedisWrite))
