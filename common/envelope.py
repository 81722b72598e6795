"""Envelopes: a pending task kept whole as one entry of its queue's pending list, with no task
hash of its own until a processor leases it.

A key per task costs Redis about 110 bytes before any data (docs/PERFORMANCE.md); a task sent
on its own to run now (no process_in, no unique lock, no caller's task_id) is therefore pushed
as ``"\\x1e" id "\\x1f" field "\\x1f" value ... "\\x1e" payload``: the same fields its hash
would hold, the payload last, so it may hold any byte. The lease (_lib.lua's lease_popped)
writes the hash from it; a reader that needs the hash of a task still pending (cancel, wait,
an operator's action) first "pins" it (find_envelope.lua): the hash is written and the list
entry becomes the bare id, in place, so the queue's order is kept.

Field values never hold "\\x1e" or "\\x1f": numbers, state names, type names (checked by
``fits``) and compact JSON (which escapes control characters)."""

from __future__ import annotations

import re
from typing import Any

from .task import Field, NewTask, TaskInfo
from .task_hash import hash_fields, info_from_hash, text

MARK = b"\x1e"  # first byte of an envelope; a task id never starts with a control character
_SEP = b"\x1f"


# What distributor/core.py's new_task_id makes: only such an id can be an envelope's, so a
# lookup of any other id never walks a pending list.
_GENERATED_ID = re.compile(r"[A-Za-z0-9._]{22}\Z")


def may_be_enveloped(task_id: str) -> bool:
    """False for an id that no envelope can hold (a caller's own id, say)."""
    return _GENERATED_ID.match(task_id) is not None


# Past this a payload dominates a task's bytes anyway, and a lookup by id (find_envelope.lua)
# copies 2,000 entries per call into Lua: with 1 MiB payloads that would be 2 GiB a call.
MAX_PAYLOAD = 2048


def fits(task: NewTask) -> bool:
    """True when the task can wait as an envelope: pending now, not unique, its id ours, its
    payload small. (An id of another form, say an outbox row's caller's id, which carries no
    nonce, could never be found again by get, cancel or watch: see may_be_enveloped.)"""
    return (
        len(task.payload) <= MAX_PAYLOAD
        and may_be_enveloped(task.id)
        and not task.due_ms
        and not task.unique_ttl_ms
        and task.nonce is None
        and "\x1e" not in task.type
        and "\x1f" not in task.type
    )


def encode(task: NewTask) -> bytes:
    """The list entry of a pending task (see the module's docstring)."""
    head = "\x1f".join(map(str, (task.id, Field.TYPE, task.type, *hash_fields(task))))
    return b"".join((MARK, head.encode(), MARK, task.payload))


def is_envelope(entry: Any) -> bool:
    """True for an envelope, False for a bare task id (a task with a hash of its own)."""
    return isinstance(entry, bytes) and entry[:1] == MARK


def decode(entry: bytes) -> tuple[str, dict[bytes, bytes]]:
    """An envelope's task id and its fields as the task hash would hold them."""
    stop = entry.index(MARK, 1)
    head = entry[1:stop].split(_SEP)
    fields = dict(zip(head[1::2], head[2::2], strict=True))
    fields[Field.PAYLOAD.encode()] = entry[stop + 1 :]
    return text(head[0]), fields


def info(queue: str, entry: bytes) -> TaskInfo:
    """The TaskInfo of a task waiting as an envelope (state pending)."""
    task_id, fields = decode(entry)
    return info_from_hash(task_id, queue, fields)


def entry_id(entry: Any) -> str:
    """The task id of a pending list entry, envelope or bare id."""
    if is_envelope(entry):
        return decode(entry)[0]
    return text(entry)
