"""A relay with a fault hook, run as a real subprocess by the crash tests:
``python -m tests.outbox.faulty_relay relay --database-url ... --table ...``.

Between a batch's Redis write and its row delete (the window a crash makes dangerous):
with OUTBOX_FAULT_FILE set, the first batch writes its ids to that file and the relay hangs,
so a test can SIGKILL it exactly there; with OUTBOX_SLOW_SECONDS set, every batch waits that
long there, so kills at random moments mostly land in the window.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tandemq.common.task import NewTask
from tandemq.outbox import Relay
from tandemq.outbox.__main__ import main


class FaultyRelay(Relay):
    async def _send(self, tasks: list[NewTask]) -> None:
        await super()._send(tasks)
        if "OUTBOX_FAULT_FILE" in os.environ:
            marker = Path(os.environ["OUTBOX_FAULT_FILE"])
            partial = marker.with_suffix(".partial")  # renamed when complete: the test waits on it
            await asyncio.to_thread(partial.write_text, ",".join(t.id for t in tasks))
            partial.rename(marker)
            await asyncio.Event().wait()  # killed here: written to Redis, rows not yet deleted
        await asyncio.sleep(float(os.environ.get("OUTBOX_SLOW_SECONDS", "0")))


if __name__ == "__main__":
    sys.exit(main(relay_class=FaultyRelay))
