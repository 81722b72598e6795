"""Settings.load: every documented environment variable is read, keyword overrides win, and a
bad value is a ConfigError naming the variable and the value it got."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tandemq.common import redis_settings as redis_settings_module
from tandemq.common import settings as settings_module
from tandemq.common.errors import ConfigError, TandemqError
from tandemq.common.ratelimit import RateLimit
from tandemq.common.settings import Settings, parse_queues

ROOT = Path(__file__).resolve().parents[2]


def _env_name(field: str) -> str:
    return "REDIS_URL" if field == "redis_url" else f"TANDEMQ_{field.upper()}"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting of the surrounding environment leaks into these tests."""
    for field in Settings.model_fields:
        monkeypatch.delenv(_env_name(field), raising=False)


def test_defaults_are_the_documented_ones() -> None:
    s = Settings.load()
    assert s.redis_url == "redis://localhost:6379/0"
    assert s.prefix == "tandemq"
    assert s.queues == {"default": 1}
    assert s.strict_priority is False
    assert s.concurrency == 10
    assert s.lease_seconds == 15
    assert s.shutdown_timeout_seconds == 10
    assert s.default_timeout_seconds == 1800
    assert s.poll_interval_seconds == 1
    assert s.redis_retries == 3
    assert s.redis_timeout_seconds == 5
    assert s.max_payload_bytes == 1_048_576
    assert s.archive_max_size == 10_000
    assert s.archive_max_age_seconds == 7_776_000
    assert s.log_format == "auto"
    assert s.log_level == "INFO"


GOOD: list[tuple[str, str, str, Any]] = [
    ("REDIS_URL", "redis://example.org:6380/2", "redis_url", "redis://example.org:6380/2"),
    ("REDIS_URL", "unix:///run/redis.sock", "redis_url", "unix:///run/redis.sock"),
    ("TANDEMQ_PREFIX", "myapp", "prefix", "myapp"),
    (
        "TANDEMQ_QUEUES",
        "critical=6,default=3,low=1",
        "queues",
        {"critical": 6, "default": 3, "low": 1},
    ),
    ("TANDEMQ_QUEUES", " high = 2 , low ", "queues", {"high": 2, "low": 1}),
    ("TANDEMQ_QUEUES", "a=1,,b=2,", "queues", {"a": 1, "b": 2}),
    ("TANDEMQ_STRICT_PRIORITY", "true", "strict_priority", True),
    ("TANDEMQ_STRICT_PRIORITY", "1", "strict_priority", True),
    ("TANDEMQ_STRICT_PRIORITY", "yes", "strict_priority", True),
    ("TANDEMQ_CONCURRENCY", "32", "concurrency", 32),
    ("TANDEMQ_WORKERS", "4", "workers", 4),
    ("TANDEMQ_LEASE_SECONDS", "2.5", "lease_seconds", 2.5),
    ("TANDEMQ_SHUTDOWN_TIMEOUT_SECONDS", "0", "shutdown_timeout_seconds", 0.0),
    ("TANDEMQ_SHUTDOWN_TIMEOUT_SECONDS", "42.5", "shutdown_timeout_seconds", 42.5),
    ("TANDEMQ_DEFAULT_TIMEOUT_SECONDS", "60", "default_timeout_seconds", 60.0),
    ("TANDEMQ_POLL_INTERVAL_SECONDS", "0.2", "poll_interval_seconds", 0.2),
    ("TANDEMQ_BLOCKING_TAKE", "false", "blocking_take", False),
    ("TANDEMQ_REDIS_RETRIES", "0", "redis_retries", 0),
    ("TANDEMQ_REDIS_TIMEOUT_SECONDS", "1.5", "redis_timeout_seconds", 1.5),
    ("TANDEMQ_MAX_PAYLOAD_BYTES", "1024", "max_payload_bytes", 1024),
    ("TANDEMQ_ARCHIVE_MAX_SIZE", "0", "archive_max_size", 0),
    ("TANDEMQ_ARCHIVE_MAX_AGE_SECONDS", "3600", "archive_max_age_seconds", 3600.0),
    ("TANDEMQ_LOG_FORMAT", "json", "log_format", "json"),
    ("TANDEMQ_LOG_FORMAT", "console", "log_format", "console"),
    ("TANDEMQ_LOG_LEVEL", "debug", "log_level", "DEBUG"),
    ("TANDEMQ_LOG_LEVEL", "WARNING", "log_level", "WARNING"),
    ("TANDEMQ_MAX_LOOP_BLOCK_SECONDS", "30", "max_loop_block_seconds", 30.0),
    ("TANDEMQ_UNKNOWN_TYPE_GRACE_SECONDS", "0", "unknown_type_grace_seconds", 0.0),
    ("TANDEMQ_ALLOW_EVICTION", "true", "allow_eviction", True),
    ("TANDEMQ_METRICS_PORT", "9100", "metrics_port", 9100),
    ("TANDEMQ_METRICS_HOST", "127.0.0.1", "metrics_host", "127.0.0.1"),
    ("TANDEMQ_METRICS_QUEUE_GAUGES", "false", "metrics_queue_gauges", False),
    (
        "TANDEMQ_METRICS_QUEUE_GAUGES_INTERVAL_SECONDS",
        "2.5",
        "metrics_queue_gauges_interval_seconds",
        2.5,
    ),
    ("TANDEMQ_QUEUE_CONCURRENCY", "emails=5, sms=1", "queue_concurrency", {"emails": 5, "sms": 1}),
    ("TANDEMQ_RATE_LIMITS", "emails=10/m:3", "rate_limits", {"emails": RateLimit(10, 60_000, 3)}),
    ("TANDEMQ_REDIS_USERNAME", "worker", "redis_username", "worker"),
    ("TANDEMQ_REDIS_PASSWORD", "s3cret", "redis_password", SecretStr("s3cret")),
    ("TANDEMQ_REDIS_DB", "3", "redis_db", 3),
    ("TANDEMQ_REDIS_CONNECT_TIMEOUT_SECONDS", "0.5", "redis_connect_timeout_seconds", 0.5),
    ("TANDEMQ_REDIS_READ_TIMEOUT_SECONDS", "30", "redis_read_timeout_seconds", 30.0),
    ("TANDEMQ_REDIS_POOL_SIZE", "20", "redis_pool_size", 20),
    ("TANDEMQ_TLS_CA_FILE", str(ROOT / "README.md"), "tls_ca_file", ROOT / "README.md"),
    ("TANDEMQ_TLS_CERT_FILE", str(ROOT / "README.md"), "tls_cert_file", ROOT / "README.md"),
    ("TANDEMQ_TLS_KEY_FILE", str(ROOT / "README.md"), "tls_key_file", ROOT / "README.md"),
    ("TANDEMQ_TLS_VERIFY", "CA", "tls_verify", "ca"),
    ("TANDEMQ_SENTINELS", "a:26379, [::1]:1", "sentinels", [("a", 26379), ("::1", 1)]),
    ("TANDEMQ_SENTINEL_MASTER", "mymaster", "sentinel_master", "mymaster"),
    ("TANDEMQ_SENTINEL_USERNAME", "sentinel-user", "sentinel_username", "sentinel-user"),
    ("TANDEMQ_SENTINEL_PASSWORD", "pw", "sentinel_password", SecretStr("pw")),
    ("TANDEMQ_CLUSTER_NODES", "n1:7000,n2:7001", "cluster_nodes", [("n1", 7000), ("n2", 7001)]),
    ("TANDEMQ_SEND_REPLICAS", "2", "send_replicas", 2),
    ("TANDEMQ_SEND_REPLICAS_TIMEOUT_SECONDS", "0.25", "send_replicas_timeout_seconds", 0.25),
]


@pytest.mark.parametrize(("var", "raw", "field", "expected"), GOOD)
def test_each_variable_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, var: str, raw: str, field: str, expected: Any
) -> None:
    assert getattr(Settings.load(), field) != expected  # the default differs: the env counts
    monkeypatch.setenv(var, raw)
    assert getattr(Settings.load(), field) == expected


def test_every_field_has_a_documented_variable_and_is_covered_here() -> None:
    variables = {_env_name(f) for f in Settings.model_fields}
    table = (settings_module.__doc__ or "") + (redis_settings_module.__doc__ or "")
    documented_here = set(re.findall(r"^\| ([A-Z_]+) \|", table, re.M))
    readme = set(re.findall(r"^\| `([A-Z_]+)` \|", (ROOT / "README.md").read_text(), re.M))
    assert variables == documented_here
    assert variables == readme
    assert variables == {var for var, *_ in GOOD}


def test_queue_order_is_kept_for_strict_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEMQ_QUEUES", "low=1,critical=6,default=3")
    assert list(Settings.load().queues) == ["low", "critical", "default"]
    assert list(parse_queues("b,a,c=2")) == ["b", "a", "c"]


def test_env_false_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEMQ_CONCURRENCY", "77")
    monkeypatch.setenv("TANDEMQ_QUEUES", "x=1")
    s = Settings.load(env=False, prefix="p")
    assert (s.concurrency, s.queues, s.prefix) == (10, {"default": 1}, "p")
    assert Settings.load().concurrency == 77


def test_keyword_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://env-host:6379/0")
    monkeypatch.setenv("TANDEMQ_CONCURRENCY", "5")
    monkeypatch.setenv("TANDEMQ_QUEUES", "a=1")
    monkeypatch.setenv("TANDEMQ_LOG_LEVEL", "ERROR")
    s = Settings.load(
        redis_url="redis://kw-host:6379/0", concurrency=7, queues={"b": 2}, log_level="debug"
    )
    assert s.redis_url == "redis://kw-host:6379/0"
    assert (s.concurrency, s.queues, s.log_level) == (7, {"b": 2}, "DEBUG")
    assert Settings.load(queues="c=3,d").queues == {"c": 3, "d": 1}


def test_a_none_keyword_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEMQ_CONCURRENCY", "5")
    assert Settings.load(concurrency=None).concurrency == 5


BAD: list[tuple[str, str]] = [
    ("TANDEMQ_QUEUES", "critical=x"),
    ("TANDEMQ_QUEUES", "=3"),
    ("TANDEMQ_QUEUES", "critical=0"),
    ("TANDEMQ_QUEUES", "critical=-2"),
    ("TANDEMQ_QUEUES", "critical=1.5"),
    ("TANDEMQ_QUEUES", "a=1,a=2"),
    ("TANDEMQ_QUEUES", ","),
    ("TANDEMQ_QUEUES", "cri{tic}al=1"),
    ("TANDEMQ_STRICT_PRIORITY", "maybe"),
    ("TANDEMQ_CONCURRENCY", "-1"),
    ("TANDEMQ_CONCURRENCY", "0"),
    ("TANDEMQ_CONCURRENCY", "ten"),
    ("TANDEMQ_CONCURRENCY", "100001"),
    ("TANDEMQ_WORKERS", "0"),
    ("TANDEMQ_LEASE_SECONDS", "0.1"),
    ("TANDEMQ_LEASE_SECONDS", "3601"),
    ("TANDEMQ_SHUTDOWN_TIMEOUT_SECONDS", "-1"),
    ("TANDEMQ_DEFAULT_TIMEOUT_SECONDS", "0"),
    ("TANDEMQ_POLL_INTERVAL_SECONDS", "0"),
    ("TANDEMQ_POLL_INTERVAL_SECONDS", "61"),
    ("TANDEMQ_REDIS_RETRIES", "-1"),
    ("TANDEMQ_REDIS_TIMEOUT_SECONDS", "0"),
    ("TANDEMQ_MAX_PAYLOAD_BYTES", "0"),
    ("TANDEMQ_ARCHIVE_MAX_SIZE", "-1"),
    ("TANDEMQ_ARCHIVE_MAX_AGE_SECONDS", "0"),
    ("TANDEMQ_LOG_FORMAT", "xml"),
    ("TANDEMQ_LOG_LEVEL", "verbose"),
    ("TANDEMQ_PREFIX", "a{b}"),
    ("TANDEMQ_PREFIX", ""),
    ("TANDEMQ_METRICS_PORT", "70000"),
    ("TANDEMQ_METRICS_PORT", "http"),
    ("TANDEMQ_METRICS_QUEUE_GAUGES_INTERVAL_SECONDS", "0"),
]


@pytest.mark.parametrize(("var", "value"), BAD)
def test_a_bad_value_is_a_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as caught:
        Settings.load()
    message = str(caught.value)
    assert f"{var}={value!r}" in message, message
    assert isinstance(caught.value, TandemqError)


def test_every_bad_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEMQ_CONCURRENCY", "-1")
    monkeypatch.setenv("TANDEMQ_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError) as caught:
        Settings.load()
    assert "TANDEMQ_CONCURRENCY='-1'" in str(caught.value)
    assert "TANDEMQ_LOG_FORMAT='xml'" in str(caught.value)


@pytest.mark.parametrize(
    ("keyword", "value"),
    [("concurrency", -1), ("queues", "critical=0"), ("log_format", "xml"), ("prefix", "{x}")],
)
def test_a_bad_keyword_is_a_config_error_naming_the_keyword(keyword: str, value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load(env=False, **{keyword: value})
    assert f"keyword {keyword}={value!r}" in str(caught.value)


def test_a_redis_url_with_an_unsupported_scheme_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "http://localhost:6379")
    with pytest.raises(ConfigError, match="REDIS_URL"):
        Settings.load()
