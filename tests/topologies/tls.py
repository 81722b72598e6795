"""Certificates made with openssl for one test session, and a TLS-only redis-server that asks
every client for a certificate (mutual TLS)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support import RedisServer, server_binary

_DAYS = "2"


@dataclass(frozen=True)
class Certs:
    ca: Path  # the CA that signed the server's and the client's certificates
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here: the "wrong CA"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _ca(dir: Path, name: str) -> tuple[Path, Path]:
    key, cert = dir / f"{name}.key", dir / f"{name}.crt"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
             "-out", str(cert), "-days", _DAYS, "-subj", f"/CN={name}")  # fmt: skip
    return key, cert


def _signed(dir: Path, name: str, ca: tuple[Path, Path], ext: str) -> tuple[Path, Path]:
    key, csr, cert = dir / f"{name}.key", dir / f"{name}.csr", dir / f"{name}.crt"
    extfile = dir / f"{name}.ext"
    extfile.write_text(ext + "\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
             "-subj", f"/CN={name}")  # fmt: skip
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[1]), "-CAkey", str(ca[0]),
             "-CAcreateserial", "-out", str(cert), "-days", _DAYS, "-extfile", str(extfile))  # fmt: skip
    return cert, key


def make_certs(dir: Path) -> Certs:
    """A CA, a server certificate for 127.0.0.1/localhost, a client certificate, another CA."""
    ca = _ca(dir, "test-ca")
    server = _signed(dir, "server", ca, "subjectAltName=IP:127.0.0.1,DNS:localhost")
    client = _signed(dir, "client", ca, "extendedKeyUsage=clientAuth")
    _, other = _ca(dir, "other-ca")
    return Certs(ca[1], server[0], server[1], client[0], client[1], other)


def have_openssl() -> bool:
    return shutil.which("openssl") is not None


@dataclass
class TLSRedis(RedisServer):
    """A redis-server that speaks TLS only (plain port off) and requires client certificates
    signed by ``certs.ca`` (tls-auth-clients yes)."""

    certs: Certs | None = None

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0"

    def start(self) -> TLSRedis:
        assert self.certs is not None
        c = self.certs
        args = [server_binary(), "--port", "0", "--tls-port", str(self.port),
                "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.dir,
                "--tls-cert-file", str(c.server_cert), "--tls-key-file", str(c.server_key),
                "--tls-ca-cert-file", str(c.ca), "--tls-auth-clients", "yes", *self.extra]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        context = ssl.create_default_context(cafile=str(c.ca))
        context.load_cert_chain(str(c.client_cert), str(c.client_key))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                raw = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"TLS redis-server did not answer on port {self.port}")
