"""A TLS-only Redis that requires client certificates (mutual TLS): both sides work on the
pipelining connection and on redis-py's; a wrong CA or a missing client certificate stops
start-up with a ConfigError that says what to check."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tandemq.common.errors import ConfigError
from tandemq.common.settings import Settings
from tandemq.distributor import Distributor
from tandemq.processor import Processor
from tests.support import subprocess_env
from tests.topologies.roundtrip import round_trip
from tests.topologies.tls import Certs, TLSRedis, have_openssl, make_certs

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not have_openssl(), reason="openssl is needed to make certificates")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_redis(certs: Certs) -> Iterator[TLSRedis]:
    server = TLSRedis(certs=certs).start()
    try:
        yield server
    finally:
        server.stop()


def _tls(server: TLSRedis, certs: Certs, **overrides: object) -> dict[str, object]:
    given: dict[str, object] = {
        "redis_url": server.url,
        "tls_ca_file": str(certs.ca),
        "tls_cert_file": str(certs.client_cert),
        "tls_key_file": str(certs.client_key),
    }
    given.update(overrides)
    return {k: v for k, v in given.items() if v is not None}


@pytest.mark.parametrize("wire", ["on", "off"])
async def test_everything_works_over_mutual_tls(
    tls_redis: TLSRedis, certs: Certs, wire: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TANDEMQ_WIRE", wire)
    used = await round_trip(**_tls(tls_redis, certs))
    fast = wire == "on"
    assert used == {"distributor_wire": fast, "processor_wire": fast, "wakeup_wire": fast}


async def test_wrong_ca_fails_the_distributor_at_start(tls_redis: TLSRedis, certs: Certs) -> None:
    s = Settings.load(env=False, **_tls(tls_redis, certs, tls_ca_file=str(certs.other_ca)))
    with pytest.raises(ConfigError, match=r"TLS handshake.*CERTIFICATE_VERIFY_FAILED"):
        async with Distributor(settings=s):
            pass


async def test_wrong_ca_fails_the_processor_at_start(tls_redis: TLSRedis, certs: Certs) -> None:
    s = Settings.load(env=False, **_tls(tls_redis, certs, tls_ca_file=str(certs.other_ca)))
    with pytest.raises(ConfigError, match="TANDEMQ_TLS_CA_FILE"):
        await Processor(settings=s).start()


async def test_missing_client_certificate_fails_at_start(tls_redis: TLSRedis, certs: Certs) -> None:
    s = Settings.load(env=False, **_tls(tls_redis, certs, tls_cert_file=None, tls_key_file=None))
    with pytest.raises(ConfigError, match="TANDEMQ_TLS_CERT_FILE"):
        async with Distributor(settings=s):
            pass


def test_the_daemon_exits_2_on_a_wrong_ca(tls_redis: TLSRedis, certs: Certs) -> None:
    env = subprocess_env(
        REDIS_URL=tls_redis.url,
        TANDEMQ_TLS_CA_FILE=str(certs.other_ca),
        TANDEMQ_TLS_CERT_FILE=str(certs.client_cert),
        TANDEMQ_TLS_KEY_FILE=str(certs.client_key),
    )
    result = subprocess.run(
        [sys.executable, "-m", "tandemq", "tests.apps:ledger"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "TLS handshake" in result.stderr
