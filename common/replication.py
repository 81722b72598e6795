"""Sends that wait for replicas (TANDEMQ_SEND_REPLICAS): after the write, ``WAIT`` until that
many replicas have it, so a failover right after a send cannot lose what the send reported
as written (Redis replicates asynchronously: without this, the last writes before a primary
dies, or the writes a demoted primary still takes, are lost).

Why a PUBLISH first: ``WAIT`` waits for the writes of its own connection, and an enqueue
that found its task already there (a send repeated after a lost reply or a NotReplicated)
writes nothing. A PUBLISH on the wake channel is itself replicated, so the WAIT after it
covers everything the primary wrote before it, on any connection, the task included. It
also costs an idle processor one spurious wake-up.

On a Redis Cluster, PUBLISH travels the cluster bus and is not replicated, so there the WAIT
covers the writes of its own connection: the pipelining connection to the queue's primary,
which the send's script call took (common/cluster_wire.py). A send repeated after a
redirection that finds its task already written (by the call redis-py sent) is not covered:
docs/CLUSTER.md.

The SyncDistributor sends the same commands in the write's own pipeline (common/sync_broker.py,
``Confirm``): one connection per node, so on a cluster too the WAIT follows the write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from .errors import NotReplicated
from .keys import Keys
from .transport import Transport


@dataclass(frozen=True)
class Confirm:
    """What a SyncDistributor send waits for: ``replicas`` replicas of ``queue``'s primary,
    at most ``timeout`` seconds (its commands ride in the write's own pipeline)."""

    queue: str
    replicas: int
    timeout: float


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
    commands = replication_commands(keys, queue, replicas, timeout)
    replies = await transport.on_one_connection(
        commands, transport.timeout + timeout, key=keys.queue(queue).pending
    )
    check_confirmed(replies, task_ids, queue, replicas)


def replication_commands(
    keys: Keys, queue: str, replicas: int, timeout: float, cluster: bool = False
) -> list[list[str | int]]:
    """The PUBLISH and WAIT that confirm a send (the PUBLISH is left out on a cluster, where
    it is not replicated: the WAIT then covers its own connection's writes)."""
    wait: list[str | int] = ["WAIT", replicas, max(1, int(timeout * 1000))]
    return [wait] if cluster else [["PUBLISH", keys.wake_channel, queue], wait]


def check_confirmed(
    replies: Sequence[object], task_ids: Sequence[str], queue: str, replicas: int
) -> None:
    """Raise what the replies of ``replication_commands`` say: a command's error, or
    NotReplicated when the WAIT counted fewer than ``replicas``."""
    *_, waited = replies
    if isinstance(waited, Exception) and "replica" in str(waited):
        # The node was demoted between the write and the WAIT (a cluster failover): the write
        # may be gone with it, confirmed by none; sending again goes to the new primary.
        waited = 0
    for reply in (*replies[:-1], waited):
        if isinstance(reply, Exception):
            raise reply
    confirmed = int(cast(int, waited))
    if confirmed < replicas:
        raise NotReplicated(list(task_ids), queue, confirmed, replicas)
