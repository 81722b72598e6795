"""Connection options: what the environment gives, what clashes (a ConfigError when the client
is built, at start), and that no password leaks."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from tandemq.common.errors import ConfigError
from tandemq.common.redis_checks import tls_problem
from tandemq.common.redis_options import RedisOptions, TLSOptions
from tandemq.common.settings import Settings

PEM = str(Path(__file__).resolve())  # any readable file: the checks here are about presence


def _clash(**given: object) -> str:
    with pytest.raises(ConfigError) as caught:
        Settings.load(env=False, **given).redis_options()
    return str(caught.value)


def test_tls_files_need_a_rediss_url() -> None:
    text = _clash(redis_url="redis://h:6379/0", tls_ca_file=PEM)
    assert "TANDEMQ_TLS_CA_FILE" in text and "rediss://" in text


def test_a_key_without_its_certificate_is_refused() -> None:
    text = _clash(redis_url="rediss://h:6379/0", tls_key_file=PEM)
    assert "TANDEMQ_TLS_KEY_FILE" in text and "TANDEMQ_TLS_CERT_FILE" in text


def test_a_missing_tls_file_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEMQ_TLS_CA_FILE", "/nonexistent/ca.pem")
    with pytest.raises(ConfigError, match=r"TANDEMQ_TLS_CA_FILE='/nonexistent/ca.pem'.*no such"):
        Settings.load()


def test_sentinels_and_master_come_together() -> None:
    assert "TANDEMQ_SENTINEL_MASTER" in _clash(sentinels="h:26379")
    assert "TANDEMQ_SENTINELS" in _clash(sentinel_master="mymaster")


def test_sentinel_and_cluster_exclude_each_other() -> None:
    text = _clash(sentinels="h:1", sentinel_master="m", cluster_nodes="h:2")
    assert "TANDEMQ_SENTINELS" in text and "TANDEMQ_CLUSTER_NODES" in text


@pytest.mark.parametrize("spec", ["h", "h:0", "h:99999", ":1", "h:x", ","])
def test_a_bad_address_names_the_variable(monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    monkeypatch.setenv("TANDEMQ_SENTINELS", spec)
    monkeypatch.setenv("TANDEMQ_SENTINEL_MASTER", "m")
    with pytest.raises(ConfigError, match="TANDEMQ_SENTINELS"):
        Settings.load()


def test_explicit_credentials_win_over_the_url() -> None:
    s = Settings.load(
        env=False,
        redis_url="redis://urluser:urlpass@h:6380/1",
        redis_username="alice",
        redis_password="fromenv",
        redis_db=4,
        redis_pool_size=7,
    )
    pool = s.redis_options().client().connection_pool
    kwargs = pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["db"]) == ("alice", "fromenv", 4)
    assert (kwargs["host"], kwargs["port"], pool.max_connections) == ("h", 6380, 7)


def test_the_url_alone_still_works() -> None:
    options = Settings.load(env=False, redis_url="redis://u:p@h:6380/2").redis_options()
    kwargs = options.client().connection_pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["db"]) == ("u", "p", 2)


def test_no_password_in_repr_describe_or_errors() -> None:
    s = Settings.load(
        env=False,
        redis_url="redis://u:urlsecret@h:6379/0",
        redis_password="envsecret",
        sentinels="s1:26379",
        sentinel_master="m",
        sentinel_password="sentinelsecret",
    )
    options = s.redis_options()
    shown = repr(options) + repr(options.describe()) + repr(s.redis_password)
    for secret in ("envsecret", "sentinelsecret"):
        assert secret not in shown
    assert options.describe() == {
        "topology": "sentinel",
        "tls": False,
        "sentinels": ["s1:26379"],
        "master": "m",
    }
    text = _clash(redis_url="redis://u:urlsecret@h:6379/0", sentinels="s:1")
    assert "urlsecret" not in text


def test_sentinel_client_asks_the_sentinels() -> None:
    s = Settings.load(env=False, sentinels="s1:26379,s2:26380", sentinel_master="m")
    pool = s.redis_options().client().connection_pool
    assert pool.service_name == "m"  # type: ignore[attr-defined]
    manager = pool.sentinel_manager  # type: ignore[attr-defined]
    assert [c.connection_pool.connection_kwargs["port"] for c in manager.sentinels] == [
        26379,
        26380,
    ]


def test_cluster_is_refused_clearly_until_supported() -> None:
    options = Settings.load(env=False, cluster_nodes="n1:7000").redis_options()
    assert options.topology == "cluster"
    with pytest.raises(ConfigError, match="TANDEMQ_CLUSTER_NODES"):
        options.client()


def test_tls_problem_is_told_from_other_failures() -> None:
    tls = TLSOptions()
    try:
        raise ConnectionError("Error connecting") from ssl.SSLCertVerificationError("bad ca")
    except ConnectionError as exc:
        assert "TANDEMQ_TLS_CA_FILE" in (tls_problem(exc, tls) or "")
    hung_up = tls_problem(ConnectionResetError(104, "Connection reset by peer"), tls)
    assert "TANDEMQ_TLS_CERT_FILE" in (hung_up or "")
    assert tls_problem(ConnectionRefusedError("refused"), tls) is None
    assert RedisOptions().tls is None


@pytest.mark.parametrize("sync", [False, True])
def test_a_unix_socket_url_makes_connections(sync: bool) -> None:
    options = Settings.load(env=False, redis_url="unix:///tmp/redis.sock?db=2").redis_options()
    client = options.sync_client() if sync else options.client()
    connection = client.connection_pool.make_connection()
    assert (connection.path, connection.db) == ("/tmp/redis.sock", 2)  # type: ignore[union-attr]
