"""The task hash ``p:{q}:t:<id>`` to and from the task shapes of common/task.py: the fields a
NewTask is written as, a dequeued row as a TaskMessage, a read hash as a TaskInfo."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .task import DEQUEUE_FIELDS, Field, NewTask, TaskInfo, TaskMessage, TaskState


def hash_fields(task: NewTask) -> list[Any]:
    """The task hash as field, value, ... except type, payload and the unique lock's key.

    Only what differs from the defaults is written: no ``retried`` (absent reads as 0) and
    no ``state`` for a pending task (absent reads as pending); small hashes stay compact."""
    fields: list[Any] = [Field.MAX_RETRY, task.max_retry, Field.ENQUEUED, task.enqueued_ms]
    optional = (
        (Field.STATE, TaskState.SCHEDULED if task.due_ms else None),
        (Field.DUE, task.due_ms or None),
        (Field.TIMEOUT, task.timeout_ms),
        (Field.DEADLINE, task.deadline_ms),
        (Field.RETENTION, task.retention_ms),
        (Field.NONCE, task.nonce),
        (Field.RESULT_TTL, task.result_ttl_ms),
    )
    fields += [item for name, value in optional if value is not None for item in (name, value)]
    if task.headers is not None:
        fields += _header_fields(task.headers)
    return fields


def _header_fields(headers: str) -> list[str]:
    """The headers' JSON as hash fields: in two pieces when 65-128 characters long, so the
    task hash stays compact (values up to 64 bytes: see _lib.lua's payload_fields);
    dequeue.lua joins them."""
    if 64 < len(headers) <= 128:
        return [Field.HEADERS, headers[:64], f"{Field.HEADERS}2", headers[64:]]
    return [Field.HEADERS, headers]


def message_from_row(queue: str, row: Sequence[Any]) -> TaskMessage | None:
    """A dequeued row (id, then DEQUEUE_FIELDS) as a TaskMessage; None when the hash was
    gone. Fields that cannot be read give a message marked corrupt, which the processor
    archives with that reason."""
    task_id, type_, payload, retried, max_retry, timeout, deadline, enqueued, headers = row
    if type_ is None:
        return None
    if not type_:
        return corrupt_message(queue, task_id, "", "task hash has no type field")
    try:
        return TaskMessage(
            id=text(task_id),
            queue=queue,
            type=text(type_),
            payload=payload or b"",
            retried=int(retried or 0),
            max_retry=int(max_retry or 0),
            timeout_ms=_optional_int(timeout),
            deadline_ms=_optional_int(deadline),
            enqueued_ms=int(enqueued or 0),
            headers=json.loads(headers) if headers else None,
        )
    except (ValueError, UnicodeDecodeError) as exc:
        type_text = bytes(type_).decode(errors="replace")
        return corrupt_message(queue, task_id, type_text, f"unreadable task fields: {exc}")


def messages_from_rows(queue: str, flat: Sequence[Any]) -> tuple[list[TaskMessage], list[str]]:
    """A dequeue's (or a blocking take's) flat reply as TaskMessages, and the ids whose data
    was missing (see message_from_row)."""
    width = 1 + len(DEQUEUE_FIELDS)
    tasks: list[TaskMessage] = []
    missing: list[str] = []
    for i in range(0, len(flat), width):
        task = message_from_row(queue, flat[i : i + width])
        if task is None:
            missing.append(text(flat[i]))
        else:
            tasks.append(task)
    return tasks, missing


def corrupt_message(queue: str, task_id: Any, type_: str, why: str) -> TaskMessage:
    """A message the processor archives with ``why`` instead of running it."""
    return TaskMessage(
        id=text(task_id), queue=queue, type=type_, payload=b"", retried=0, max_retry=0,
        timeout_ms=None, deadline_ms=None, enqueued_ms=0, corrupt=why,
    )  # fmt: skip


def info_from_hash(task_id: str, queue: str, raw: dict[Any, Any]) -> TaskInfo:
    """A TaskInfo from HGETALL's reply (bytes or str, the payload maybe in pieces)."""
    fields = {text(k): v if isinstance(v, bytes) else v.encode() for k, v in raw.items()}
    join_payload(fields)
    # errors="replace": a corrupt task must still be shown, not make get_task fail
    decoded = {k: v.decode(errors="replace") for k, v in fields.items()}
    return TaskInfo.from_hash(task_id, queue, decoded)


def join_payload(fields: dict[str, Any]) -> None:
    """Join a payload stored in pieces (p, p2, ...: see _lib.lua) back into one, as bytes: a
    piece may end inside a multi-byte character."""
    first = Field.PAYLOAD
    if f"{first}2" not in fields or first not in fields:
        return
    parts, i = [fields[first]], 2
    while (part := fields.pop(f"{first}{i}", None)) is not None:
        parts.append(part)
        i += 1
    fields[first] = b"".join(parts)


def text(value: Any) -> str:
    """A reply item as str (Redis answers bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _optional_int(value: Any) -> int | None:
    return int(value) if value else None
