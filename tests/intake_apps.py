"""Processor apps consuming a list or a stream, run as real subprocesses by the intake tests.

``INTAKE_KEY`` names the list or stream. Each run of a line ``n`` (or an entry with field
``n``) adds 1 to ``<prefix>:ledger`` field n, and its task id is kept in
``<prefix>:ledger:ids`` (task id -> n), so a test counts lost items, tasks made twice for one
item, and re-runs, across processes it killed. A line or entry ``die`` SIGKILLs the process inside ``parse``
(after the item was taken, before its task is written) unless the file ``INTAKE_DIE_MARKER``
exists, which the first such death creates: the item's second parse succeeds.
"""

from __future__ import annotations

import os
import signal
import time
from typing import ClassVar

from pydantic import BaseModel

from tandemq.processor import Processor, TaskContext
from tests.apps import _Ledger


class Line(BaseModel):
    tandemq_type: ClassVar[str] = "tests.line"
    n: str


def _prefix() -> str:
    return os.environ["TANDEMQ_PREFIX"]


def _maybe_die(value: str) -> None:
    marker = os.environ.get("INTAKE_DIE_MARKER")
    if value != "die" or not marker:
        return
    if not os.path.exists(marker):
        with open(marker, "w"):
            pass
        os.kill(os.getpid(), signal.SIGKILL)


def _slow() -> None:
    """``INTAKE_PARSE_SECONDS`` per item: storms use it so kills land while items are held."""
    seconds = float(os.environ.get("INTAKE_PARSE_SECONDS", "0"))
    if seconds:
        time.sleep(seconds)


def parse_line(line: str) -> Line:
    _maybe_die(line)
    _slow()
    return Line(n=line)


def parse_fields(fields: dict[str, str]) -> Line:
    _maybe_die(fields["n"])
    _slow()
    return Line(n=fields["n"])


def _ledger_processor() -> Processor:
    processor = Processor.from_env()
    book = _Ledger()

    @processor.handler(Line)
    async def record(line: Line, ctx: TaskContext) -> None:
        # tasks made per item (the intake's duplicates), then runs per item (the handler's)
        await book.client.hset(f"{_prefix()}:ledger:ids", ctx.id, line.n)
        await book.client.hincrby(f"{_prefix()}:ledger", line.n, 1)

    return processor


def list_consumer() -> Processor:
    processor = _ledger_processor()
    processor.consume_list(os.environ["INTAKE_KEY"], parse=parse_line)
    return processor


def stream_consumer() -> Processor:
    processor = _ledger_processor()
    processor.consume_stream(os.environ["INTAKE_KEY"], group="tandemq", parse=parse_fields)
    return processor
