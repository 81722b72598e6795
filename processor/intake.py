"""What list and stream intake share: the consumer's settings, and turning an item into a
task with the user's ``parse`` (a rejected item becomes an archived task keeping its raw text).
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from tandemq.common.intake import IntakeTask, StreamEntry
from tandemq.common.registry import type_name
from tandemq.distributor.client import new_task_id

UNPARSED_TYPE = "tandemq.unparsed"  # the type of the archived task an item parse rejected
BATCH = 100  # most items taken and written in one step

ListParse = Callable[[str], BaseModel]
StreamParse = Callable[[dict[str, str]], BaseModel]


@dataclass(frozen=True, slots=True)
class IntakeSpec:
    """One consumed list or stream, as registered with consume_list / consume_stream."""

    key: str
    parse: Callable[[Any], BaseModel]
    queue: str
    max_retry: int
    group: str | None = None  # streams only
    start_id: str = "0"  # streams only: where a new group starts reading


def to_task(spec: IntakeSpec, item: Any, raw: bytes) -> IntakeTask:
    """``parse(item)`` as a pending task, or the raw item as an archived one, with the error,
    when parse raised or did not return a pydantic model."""
    try:
        payload = spec.parse(item)
        if not isinstance(payload, BaseModel):
            raise TypeError(f"parse returned {type(payload).__name__}, not a pydantic model")
        return IntakeTask(
            new_task_id(), type_name(type(payload)), payload.model_dump_json().encode()
        )
    except Exception as exc:
        why = "".join(traceback.format_exception_only(exc)).strip()
        error = f"parse rejected this item of {spec.key!r}: {why}"
        return IntakeTask(new_task_id(), UNPARSED_TYPE, raw, error)


def list_task(spec: IntakeSpec, raw: bytes) -> IntakeTask:
    try:
        line = raw.decode()
    except UnicodeDecodeError as exc:
        return IntakeTask(
            new_task_id(), UNPARSED_TYPE, raw, f"item of {spec.key!r} is not UTF-8: {exc}"
        )
    return to_task(spec, line, raw)


def stream_task(spec: IntakeSpec, entry: StreamEntry) -> IntakeTask:
    if entry.fields is None:
        error = f"entry {entry.id} was deleted from stream {spec.key!r} before it became a task"
        return IntakeTask(new_task_id(), UNPARSED_TYPE, b"", error)
    fields = entry.fields
    text = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in fields.items()}
    return to_task(spec, text, json.dumps(text).encode())
