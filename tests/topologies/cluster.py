"""A Redis Cluster on loopback: three primaries, one replica each, every node a redis-server
process of its own on free ports (client port and cluster bus port both picked free, so no
``port + 10000`` clash). Slots are split in three, nodes meet, replicas attach (the same steps
``redis-cli --cluster create --cluster-replicas 1`` takes, done here so only redis-server is
needed). A node is judged failed after 1 s (``cluster-node-timeout``), so a crash is failed
over within a few seconds."""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import redis

from tandemq.common.settings import Settings
from tests.support import RedisServer, free_port

NODE_TIMEOUT_MS = 1000
SLOTS = 16384


def _node(bus_port: int) -> RedisServer:
    return RedisServer(
        extra=(
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-port", str(bus_port),
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            "--cluster-replica-validity-factor", "0",  # any replica may take over
            "--cluster-require-full-coverage", "no",  # the other shards serve during a switch
        )
    )  # fmt: skip


@dataclass
class Cluster:
    primaries: list[RedisServer] = field(default_factory=list)
    replicas: list[RedisServer] = field(default_factory=list)

    @property
    def nodes(self) -> str:
        """TANDEMQ_CLUSTER_NODES for this cluster (two nodes are enough to find the rest)."""
        return ",".join(f"127.0.0.1:{s.port}" for s in self.primaries[:2])

    def settings(self) -> dict[str, str]:
        return {"cluster_nodes": self.nodes}

    def start(self) -> Cluster:
        try:
            for i in range(6):
                server = _node(free_port()).start()
                (self.primaries if i < 3 else self.replicas).append(server)
            self._assign_slots()
            self._meet()
            self._wait(lambda: all(self._knows_all(s) for s in self.servers), "nodes meet")
            for primary, replica in zip(self.primaries, self.replicas, strict=True):
                with self.client(replica) as r:
                    r.execute_command("CLUSTER", "REPLICATE", self.node_id(primary))
            self._wait(self._ready, "cluster ok with every replica in sync")
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def servers(self) -> list[RedisServer]:
        return self.primaries + self.replicas

    def client(self, server: RedisServer) -> redis.Redis:
        return redis.Redis(port=server.port, socket_timeout=2, decode_responses=True)

    def node_id(self, server: RedisServer) -> str:
        with self.client(server) as r:
            return str(r.execute_command("CLUSTER", "MYID"))

    def _assign_slots(self) -> None:
        step = SLOTS // 3
        for i, primary in enumerate(self.primaries):
            last = SLOTS - 1 if i == 2 else (i + 1) * step - 1
            with self.client(primary) as r:
                r.execute_command("CLUSTER", "ADDSLOTSRANGE", i * step, last)

    def _meet(self) -> None:
        first = self.primaries[0]
        first_bus = int(first.extra[first.extra.index("--cluster-port") + 1])
        for server in self.servers[1:]:
            with self.client(server) as r:
                r.execute_command("CLUSTER", "MEET", "127.0.0.1", first.port, first_bus)

    def _knows_all(self, server: RedisServer) -> bool:
        with self.client(server) as r:
            lines = str(r.execute_command("CLUSTER", "NODES")).strip().splitlines()
            return len(lines) == 6 and not any("handshake" in line for line in lines)

    def _ready(self) -> bool:
        for server in self.servers:
            with self.client(server) as r:
                if r.cluster("info")["cluster_state"] != "ok":
                    return False
        for replica in self.replicas:
            with self.client(replica) as r:
                info = r.info("replication")
                if info["role"] != "slave" or info.get("master_link_status") != "up":
                    return False
        return True

    def _wait(self, check: object, what: str, timeout: float = 30.0) -> None:
        assert callable(check)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if check():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"the cluster did not get ready in time: {what}")

    # -- topology, as the nodes see it -------------------------------------------------

    def primary_of(self, key: str) -> RedisServer:
        """The server that serves ``key``'s slot now."""
        for server in self.servers:
            with contextlib.suppress(redis.RedisError), self.client(server) as r:
                slot = int(r.execute_command("CLUSTER", "KEYSLOT", key))
                if r.info("replication")["role"] != "master":
                    continue
                for start, end, owner, *_replicas in r.execute_command("CLUSTER", "SLOTS"):
                    if start <= slot <= end and int(owner[1]) == server.port:
                        return server
        raise AssertionError(f"no primary serves {key!r}")

    def replica_of(self, primary: RedisServer) -> RedisServer:
        primary_id = self.node_id(primary)
        for server in self.servers:
            if server is primary or server.proc is None or server.proc.poll() is not None:
                continue
            with contextlib.suppress(redis.RedisError), self.client(server) as r:
                info = r.info("replication")
                if info["role"] == "slave" and int(info["master_port"]) == primary.port:
                    return server
        raise AssertionError(f"no replica of node {primary_id}")

    def wait_primary(self, server: RedisServer, timeout: float = 30.0) -> None:
        """``server`` calls itself a primary and the cluster state is ok on every live node."""

        def promoted() -> bool:
            with self.client(server) as r:
                if r.info("replication")["role"] != "master":
                    return False
            for other in self.servers:
                if other.proc is not None and other.proc.poll() is None:
                    with self.client(other) as r:
                        if r.cluster("info")["cluster_state"] != "ok":
                            return False
            return True

        self._wait(promoted, f"port {server.port} promoted", timeout)

    def stop(self) -> None:
        for server in self.servers:
            server.stop(kill=True)


def cluster_settings(cluster: Cluster, **more: Any) -> Settings:
    """tandemq's settings for a test on ``cluster``, under a key prefix of its own."""
    prefix = f"cl-{uuid.uuid4().hex[:8]}"
    return Settings.load(env=False, prefix=prefix, **cluster.settings(), **more)
