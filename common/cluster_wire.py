"""The pipelining connection on a Redis Cluster: one ``Wire`` per primary, each script call
sent to the primary that serves the slot of its keys (all of one call's keys share a slot:
the ``{queue}`` hash tag).

The slot map is redis-py's (``RedisCluster.nodes_manager``, read from CLUSTER SLOTS): this
module never asks the cluster for it. A call whose slot is not mapped yet, whose node's
connection is down, or that the node answers with a redirection (MOVED, ASK, TRYAGAIN,
CLUSTERDOWN: nothing ran) is sent again through redis-py, which follows the redirection and
reloads the map; the next calls are routed by the new map. So a failover is followed without
any topology code here.

A call lost on a connection that failed under it (it may have run) is failed back to the
transport as ``WireLost``, which sends it again through redis-py or not (``resend``), exactly
as on one Redis.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from typing import Any, cast

from redis.asyncio import ConnectionPool
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import ResponseError, SlotNotCoveredError

from .cluster import slot_of
from .wire import Subscription, Wire, WireDown, WireLost
from .wire_target import target_for

__all__ = ["ClusterWire", "Redirected"]

# Error replies that mean the command did not run on this node (safe to send elsewhere).
_NOT_RUN = ("MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN")


class Redirected(WireDown):
    """The node did not run the call (a redirection or the cluster was down): not sent."""


class ClusterWire:
    """Wires to a cluster's primaries, made on first use of each node."""

    def __init__(self, redis: RedisCluster) -> None:
        self._redis = redis
        self._wires: dict[str, Wire] = {}

    async def aclose(self) -> None:
        wires, self._wires = list(self._wires.values()), {}
        await asyncio.gather(*(w.aclose() for w in wires))

    async def call_many(self, calls: Sequence[tuple[str, bytes]], timeout: float) -> list[Any]:
        """``(first key, packed command)`` pairs, each sent to its slot's primary (one round
        trip per node, in parallel); returns the replies in call order. A reply is the
        redis-py exception for an error reply, ``Redirected`` for a call the node did not
        run, or the WireLost its node's connection failed with."""
        groups: dict[str, tuple[Wire | None, list[int]]] = {}
        for i, (key, _) in enumerate(calls):
            node = self._node(key)
            name = node.name if node is not None else ""
            if name not in groups:
                groups[name] = (self._wire(node) if node is not None else None, [])
            groups[name][1].append(i)
        replies: list[Any] = [None] * len(calls)

        async def one(wire: Wire | None, idx: list[int]) -> None:
            if wire is None:
                for i in idx:
                    replies[i] = Redirected("slot not mapped yet")
                return
            try:
                got = await wire.call_many([calls[i][1] for i in idx], timeout)
            except (WireLost, TimeoutError) as exc:
                failure = exc if isinstance(exc, WireLost) else WireLost(str(exc))
                for i in idx:
                    replies[i] = failure
                return
            for i, reply in zip(idx, got, strict=True):
                replies[i] = _redirected(reply)

        if len(groups) == 1:
            await one(*next(iter(groups.values())))
        else:
            await asyncio.gather(*(one(w, idx) for w, idx in groups.values()))
        return replies

    async def on_node_of(self, key: str, commands: Sequence[bytes], timeout: float) -> list[Any]:
        """Packed commands on the connection to ``key``'s primary (the one script calls to
        that slot take, so a WAIT there covers their writes); WireDown when there is none."""
        node = self._node(key)
        wire = self._wire(node) if node is not None else None
        if wire is None:
            raise WireDown("slot not mapped yet")
        return await wire.call_many(commands, timeout)

    async def subscribe(self, channel: str, on_message: Callable[[bytes], None]) -> Subscription:
        """A subscription on any one primary: a cluster delivers PUBLISH to every node."""
        primaries = self._redis.get_primaries() or self._redis.get_nodes()
        if not primaries:
            raise WireDown("no cluster node known yet")
        node = random.choice(primaries)
        target = target_for(cast(ConnectionPool, node))
        if target is None:
            raise WireDown("cluster connections of a kind the pipelining connection does not make")
        return await Wire(target).subscribe(channel, on_message)

    def _node(self, key: str) -> ClusterNode | None:
        try:
            return self._redis.nodes_manager.get_node_from_slot(slot_of(key))
        except (SlotNotCoveredError, KeyError):
            return None

    def _wire(self, node: ClusterNode) -> Wire | None:
        wire = self._wires.get(node.name)
        if wire is None:
            target = target_for(cast(ConnectionPool, node))  # a node has a pool's two fields
            if target is None:
                return None
            wire = self._wires[node.name] = Wire(target)
        return wire


def _redirected(reply: Any) -> Any:
    if isinstance(reply, ResponseError) and str(reply).startswith(_NOT_RUN):
        return Redirected(str(reply))
    return reply
