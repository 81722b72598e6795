"""Sends that wait for replicas (TANDEMQ_SEND_REPLICAS): after the write, ``WAIT`` until that
many replicas have it, so a failover right after a send cannot lose what the send reported
as written (Redis replicates asynchronously: without this, the last writes before a primary
dies, or the writes a demoted primary still takes, are lost).

Why a PUBLISH first: ``WAIT`` waits for the writes of its own connection, and an enqueue
that found its task already there (a send repeated after a lost reply or a NotReplicated)
writes nothing. A PUBLISH on the wake channel is itself replicated, so the WAIT after it
covers everything the primary wrote before it, on any connection, the task included. It
also costs an idle processor one spurious wake-up.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import NotReplicated
from .keys import Keys
from .transport import Transport


async def confirm_replicated(
    transport: Transport,
    keys: Keys,
    task_ids: Sequence[str],
    queue: str,
    replicas: int,
    timeout: float,
) -> None:
    """Return once ``replicas`` replicas have every write the primary made so far; raise
    NotReplicated (naming ``task_ids``) when fewer confirmed within ``timeout`` seconds."""
    wait_ms = max(1, int(timeout * 1000))
    commands: list[list[str | int]] = [
        ["PUBLISH", keys.wake_channel, queue],
        ["WAIT", replicas, wait_ms],
    ]
    replies = await transport.on_one_connection(commands, transport.timeout + timeout)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    confirmed = int(replies[-1])
    if confirmed < replicas:
        raise NotReplicated(list(task_ids), queue, confirmed, replicas)
