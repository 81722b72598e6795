"""The connection fields of Settings: credentials, timeouts, pool, TLS, Sentinel, Cluster.

Each is read from its environment variable (or given as a keyword of the same name, lower
case, without ``TANDEMQ_``); a bad value is a ConfigError naming the variable. Which of them
go together (TLS needs ``rediss://``, Sentinel needs a master name, ...) is checked where the
client is built (common/redis_options.py), with messages that never carry a password.

| variable | default | meaning |
|---|---|---|
| TANDEMQ_REDIS_USERNAME | (from REDIS_URL) | ACL user; wins over the URL's |
| TANDEMQ_REDIS_PASSWORD | (from REDIS_URL) | password; wins over the URL's; never logged |
| TANDEMQ_REDIS_DB | (from REDIS_URL) | database number; wins over the URL's |
| TANDEMQ_REDIS_CONNECT_TIMEOUT_SECONDS | 5 | longest a new connection may take |
| TANDEMQ_REDIS_READ_TIMEOUT_SECONDS | (none) | socket read timeout; round trips are bounded by TANDEMQ_REDIS_TIMEOUT_SECONDS anyway |
| TANDEMQ_REDIS_POOL_SIZE | 100 | most connections redis-py opens per client; callers wait for a free one |
| TANDEMQ_TLS_CA_FILE | (system CAs) | PEM file of the CA that signed the server's certificate (rediss://) |
| TANDEMQ_TLS_CERT_FILE | (none) | client certificate (PEM) for mutual TLS |
| TANDEMQ_TLS_KEY_FILE | (none) | the client certificate's private key (PEM) |
| TANDEMQ_TLS_VERIFY | full | full: CA and host name; ca: CA only; none: no check (tests only) |
| TANDEMQ_SENTINELS | (none) | host:port,... of the Sentinels; the primary is asked of them |
| TANDEMQ_SENTINEL_MASTER | (none) | the name the Sentinels monitor the primary under |
| TANDEMQ_SENTINEL_USERNAME | (none) | ACL user on the Sentinels themselves |
| TANDEMQ_SENTINEL_PASSWORD | (none) | password of the Sentinels themselves (not the primary's) |
| TANDEMQ_CLUSTER_NODES | (none) | host:port,... of some Redis Cluster nodes |
| TANDEMQ_SEND_REPLICAS | 0 | after each send, wait until this many replicas have it (WAIT); 0: do not wait |
| TANDEMQ_SEND_REPLICAS_TIMEOUT_SECONDS | 1 | how long a send waits for them before NotReplicated |
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

Address = tuple[str, int]


def parse_addresses(spec: str) -> list[Address]:
    """``"10.0.0.1:26379,[::1]:26380"`` -> ``[("10.0.0.1", 26379), ("::1", 26380)]``."""
    found: list[Address] = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        host = host.strip("[]")
        if not sep or not host:
            raise ValueError(f"{item!r} is not host:port")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"port of {item!r} must be a number from 1 to 65535")
        found.append((host, int(port)))
    if not found:
        raise ValueError("give at least one host:port")
    return found


class RedisSettings(BaseSettings):
    """Connection fields, mixed into Settings (see the module table)."""

    redis_username: str | None = None
    redis_password: SecretStr | None = None
    redis_db: int | None = Field(None, ge=0, le=1_000_000)
    redis_connect_timeout_seconds: float = Field(5.0, gt=0, le=600)
    redis_read_timeout_seconds: float | None = Field(None, gt=0, le=3600)
    redis_pool_size: int | None = Field(None, ge=2, le=100_000)
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_verify: Literal["full", "ca", "none"] = "full"
    sentinels: Annotated[list[Address] | None, NoDecode] = None
    sentinel_master: str | None = None
    sentinel_username: str | None = None
    sentinel_password: SecretStr | None = None
    cluster_nodes: Annotated[list[Address] | None, NoDecode] = None
    send_replicas: int = Field(0, ge=0, le=100)
    send_replicas_timeout_seconds: float = Field(1.0, gt=0, le=600)

    @field_validator("sentinels", "cluster_nodes", mode="before")
    @classmethod
    def _parse_addresses(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_addresses(value) if value.strip() else None
        return value

    @field_validator("tls_ca_file", "tls_cert_file", "tls_key_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("no such file (give the path of a PEM file)")
        return value

    @field_validator("tls_verify", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value
