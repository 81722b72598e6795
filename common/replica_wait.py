"""TANDEMQ_WAIT_REPLICAS: a write is reported done only once that many replicas have it.

Redis replicates asynchronously: a primary acknowledges a write before its replicas have it,
so a failover right then loses the write (docs/CLUSTER.md counts it). ``WAIT n timeout`` sent
after the calls on the same connection blocks until ``n`` replicas confirmed everything that
connection wrote; fewer within the timeout raises ReplicationTimeout, so a sender that gets
no error knows its task survives the loss of the primary.

Only the Distributor waits: a send is the one write whose loss loses a task. A processor's
state change lost in a failover leaves the task in its earlier state on the new primary
(pending, or leased with a lease that expires), so it runs again: a duplicate, never a loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from .cluster import is_cluster
from .errors import ReplicationTimeout
from .wire import pack

__all__ = ["ReplicaWait"]


@dataclass(frozen=True, slots=True)
class ReplicaWait:
    replicas: int
    timeout_ms: int = 1000
    command: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "command", pack(["WAIT", self.replicas, self.timeout_ms]))

    def check(self, acks: Sequence[Any]) -> None:
        """Raise ReplicationTimeout unless every WAIT reply counts enough replicas."""
        for ack in acks:
            if not isinstance(ack, int) or ack < self.replicas:
                got = ack if isinstance(ack, int) else f"an error ({ack})"
                raise ReplicationTimeout(
                    f"Redis took the write but {got} of {self.replicas} replicas confirmed it"
                    f" within {self.timeout_ms} ms (TANDEMQ_WAIT_REPLICAS,"
                    " TANDEMQ_WAIT_TIMEOUT_MS): check the replicas' links, or send again"
                    " (a task that landed is reported as existing)"
                )

    def add_to(self, pipe: Any, redis: Any, keys: Sequence[str]) -> None:
        """Add WAIT to a redis-py pipeline: once on one Redis (a pipeline is one
        connection), once per primary the keys live on in a cluster pipeline."""
        if not is_cluster(redis):
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
            return
        nodes = {}
        for key in keys:
            try:
                node = redis.get_node_from_key(key)
            except RedisError:
                continue  # slot not mapped yet: the pipeline maps it; that call goes unwaited
            nodes[node.name] = node
        for node in nodes.values():
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms, target_nodes=node)
