"""tandemq logs as a library should: through the standard logging module, under ``tandemq.*``
logger names, so the host application decides what shows; the daemon's ``configure`` still
writes JSON lines."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys

import pytest
from pydantic import BaseModel

from tandemq.distributor import Distributor
from tests.support import logged, subprocess_env


class Note(BaseModel):
    text: str


async def test_events_are_logging_records_under_tandemq_names(
    distributor: Distributor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tandemq")
    info = await distributor.send(Note(text="hi"))
    [record] = [r for r in caplog.records if r.getMessage().startswith("task.enqueued ")]
    assert record.name.startswith("tandemq.distributor.") and record.levelno == logging.INFO
    assert f"task_id={info.id}" in record.getMessage()  # readable in a plain handler
    assert logged(caplog, "task.enqueued")[0]["task_id"] == info.id  # and structured


async def test_a_warning_level_on_tandemq_drops_its_info_events(
    distributor: Distributor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("tandemq").setLevel(logging.WARNING)
    try:
        await distributor.send(Note(text="quiet"))
    finally:
        logging.getLogger("tandemq").setLevel(logging.NOTSET)
    assert logged(caplog, "task.enqueued") == []


APP = """
import asyncio, logging, sys
from typing import ClassVar
from pydantic import BaseModel
from tandemq import Distributor

class Note(BaseModel):
    tandemq_type: ClassVar[str] = "logtest.note"
    text: str

mode = sys.argv[2]
if mode == "info":
    logging.basicConfig(level=logging.INFO)
elif mode == "warning":
    logging.basicConfig(level=logging.WARNING)
elif mode == "disabled":
    logging.basicConfig(level=logging.INFO)
    logging.disable(logging.CRITICAL)

async def main():
    async with Distributor(sys.argv[1], prefix="logtest") as d:
        await d.send(Note(text="x"))

asyncio.run(main())
print("sent")
"""


@pytest.mark.parametrize(("mode", "shown"), [("none", False), ("warning", False),
                                             ("disabled", False), ("info", True)])  # fmt: skip
def test_the_host_apps_logging_config_decides(redis_url: str, mode: str, shown: bool) -> None:
    """A plain app that sends a task: silent unless its own configuration asks for INFO."""
    proc = subprocess.run(
        [sys.executable, "-c", APP, redis_url, mode],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout == "sent\n", proc.stdout + proc.stderr
    assert ("task.enqueued" in proc.stderr) is shown, proc.stderr
    if shown:
        assert re.search(r"INFO:tandemq\.distributor\.\w+:task\.enqueued task_id=", proc.stderr)


DAEMON = """
import logging
from tandemq.common.logging import configure, get_logger
configure("json", "INFO")
get_logger("tandemq.processor.fetcher", component="fetcher").info("thing.happened", n=2)
get_logger("tandemq.processor").debug("below.the.level")
logging.getLogger("app").warning("the app's own %s", "record")
"""


def test_the_daemons_configuration_writes_json_lines() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", DAEMON], env=subprocess_env(), capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    lines = [json.loads(line) for line in proc.stderr.splitlines()]
    assert [line["event"] for line in lines] == ["thing.happened", "the app's own record"]
    first = lines[0]
    assert first["n"] == 2 and first["component"] == "fetcher" and first["level"] == "info"
    assert first["logger"] == "tandemq.processor.fetcher" and "timestamp" in first
