"""A Sentinel-managed Redis on loopback: one primary, one replica (or more), three Sentinels (quorum 2),
each a redis-server process of its own. Sentinels mark a server down after 1 s here (the
default is 30 s), so a crash is failed over within a few seconds."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.support import RedisServer, free_port, server_binary

MASTER = "tandemq-test"
DOWN_AFTER_MS = 1000


@dataclass
class SentinelSet:
    server_args: tuple[str, ...] = ()  # for every Redis server (e.g. min-replicas-to-write)
    replicas: int = 1
    servers: list[RedisServer] = field(default_factory=list)  # [primary, replica] at start
    sentinel_ports: list[int] = field(default_factory=list)
    sentinel_procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tandemq-sentinel-")))

    @property
    def sentinels(self) -> str:
        """TANDEMQ_SENTINELS for this set."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def settings(self) -> dict[str, str]:
        return {"sentinels": self.sentinels, "sentinel_master": MASTER}

    def start(self) -> SentinelSet:
        primary = RedisServer(extra=self.server_args).start()
        self.servers.append(primary)
        following = ("--replicaof", "127.0.0.1", str(primary.port))
        for _ in range(self.replicas):
            self.servers.append(RedisServer(extra=(*self.server_args, *following)).start())
        for i in range(3):
            port = free_port()
            conf = self.dir / f"sentinel-{i}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {primary.port} 2\n"
                f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER} 10000\n"
            )
            proc = subprocess.Popen(
                [server_binary(), str(conf), "--sentinel"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
            self.sentinel_ports.append(port)
            self.sentinel_procs.append(proc)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 20.0) -> None:
        """Every Sentinel knows the other two and the replica; the replica is in sync."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if all(self._sentinel_ready(port) for port in self.sentinel_ports):
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the Sentinels did not see each other and the replica in time")

    def _sentinel_ready(self, port: int) -> bool:
        with redis.Redis(port=port, socket_timeout=1) as s:
            replicas = s.sentinel_slaves(MASTER)
            return (
                len(s.sentinel_sentinels(MASTER)) == 2
                and len(replicas) == self.replicas
                and all(r.get("master-link-status") == "ok" for r in replicas)
            )

    def sentinel(self, i: int = 0) -> redis.Redis:
        return redis.Redis(port=self.sentinel_ports[i], socket_timeout=2, decode_responses=True)

    def failover(self, timeout: float = 10.0) -> None:
        """SENTINEL FAILOVER, asked again while a Sentinel answers that no replica is ready
        yet (NOGOODSLAVE: its view of the replica is refreshed every few seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.sentinel() as s:
                    s.execute_command("SENTINEL", "FAILOVER", MASTER)
                return
            except redis.ResponseError as exc:
                if "NOGOODSLAVE" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def primary_port(self) -> int:
        with self.sentinel() as s:
            _, port = s.sentinel_get_master_addr_by_name(MASTER)
            return int(port)

    def server_on(self, port: int) -> RedisServer:
        return next(s for s in self.servers if s.port == port)

    def wait_new_primary(self, old_port: int, timeout: float = 30.0) -> int:
        """The port every Sentinel names as the primary once it is not ``old_port`` any more."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                ports = set()
                for i in range(len(self.sentinel_ports)):
                    with self.sentinel(i) as s:
                        ports.add(int(s.sentinel_get_master_addr_by_name(MASTER)[1]))
                if len(ports) == 1 and old_port not in ports:
                    new = ports.pop()
                    with redis.Redis(port=new, socket_timeout=1) as r:
                        if r.info("replication")["role"] == "master":
                            return new
            time.sleep(0.05)
        raise AssertionError(f"no new primary within {timeout}s")

    def stop(self) -> None:
        for proc in self.sentinel_procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for server in self.servers:
            server.stop(kill=True)
