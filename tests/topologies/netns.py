"""Three hosts on one machine: network namespaces made for the test, joined by veth pairs.
Redis runs in one (``r``) and answers on 10.213.0.1 (link to host ``a``) and 10.213.0.5 (link
to host ``b``), and on a Unix socket the test itself uses (namespaces do not separate files).
Nothing is added to the machine's own network: every interface and address lives inside the
namespaces, which are deleted at the end (with their interfaces)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tests.support import server_binary, subprocess_env

ROOT = Path(__file__).resolve().parents[2]
REDIS_ON = {"a": "10.213.0.1", "b": "10.213.0.5"}  # Redis's address as each host sees it
HOST_ADDRESS = {"a": "10.213.0.2", "b": "10.213.0.6"}


def why_no_namespaces() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    probe = f"tqprobe{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, check=False)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.decode().strip()}"
    subprocess.run(["ip", "netns", "del", probe], check=False)
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Hosts:
    """``with Hosts() as hosts``: namespaces, links, Redis; ``hosts.start("a", ...)``."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.ns = {name: f"tq{tag}{name}" for name in ("r", "a", "b")}
        self.dir = Path(tempfile.mkdtemp(prefix="tandemq-hosts-"))
        self.socket = self.dir / "redis.sock"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._redis: subprocess.Popen[bytes] | None = None

    @property
    def unix_url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def url_for(self, host: str) -> str:
        return f"redis://{REDIS_ON[host]}:6379/0"

    def __enter__(self) -> Hosts:
        try:
            self._make_network()
            self._start_redis()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _make_network(self) -> None:
        for ns in self.ns.values():
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        r = self.ns["r"]
        for host in ("a", "b"):
            inner, outer = f"r{host}{self.ns[host][2:8]}", f"{host}r{self.ns[host][2:8]}"
            _ip("-n", r, "link", "add", inner, "type", "veth", "peer", "name", outer,
                "netns", self.ns[host])  # fmt: skip
            _ip("-n", r, "addr", "add", f"{REDIS_ON[host]}/30", "dev", inner)
            _ip("-n", r, "link", "set", inner, "up")
            _ip("-n", self.ns[host], "addr", "add", f"{HOST_ADDRESS[host]}/30", "dev", outer)
            _ip("-n", self.ns[host], "link", "set", outer, "up")

    def _start_redis(self) -> None:
        args = ["ip", "netns", "exec", self.ns["r"], server_binary(), "--port", "6379",
                "--bind", *REDIS_ON.values(), "--unixsocket", str(self.socket),
                "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                "--dir", str(self.dir), "--protected-mode", "no"]  # fmt: skip
        self._redis = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server in the namespace did not start")
            time.sleep(0.02)

    def start(self, host: str, app: str, **env: str) -> subprocess.Popen[bytes]:
        """A ``python -m tandemq <app>`` daemon on ``host``, talking to Redis over its link."""
        log = open(self.dir / f"{host}.log", "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns[host], sys.executable, "-m", "tandemq", app],
            cwd=ROOT,
            env=subprocess_env(
                REDIS_URL=self.url_for(host), HOST_LABEL=host, TANDEMQ_LOG_FORMAT="json", **env
            ),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        self.procs[host] = proc
        return proc

    def log(self, host: str) -> str:
        path = self.dir / f"{host}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __exit__(self, *exc: object) -> None:
        for proc in [*self.procs.values(), self._redis]:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        for ns in self.ns.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
