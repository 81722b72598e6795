"""Settings from the environment, validated once; a bad value is a ConfigError naming the variable.

| variable | default | meaning |
|---|---|---|
| REDIS_URL | redis://localhost:6379/0 | Redis server (redis://, rediss://, unix://) |
| TANDEMQ_PREFIX | tandemq | prefix of every key |
| TANDEMQ_QUEUES | default=1 | queues and weights, e.g. critical=6,default=3,low=1 |
| TANDEMQ_STRICT_PRIORITY | false | drain queues in the listed order instead of by weight |
| TANDEMQ_CONCURRENCY | 10 | tasks run at once by one processor |
| TANDEMQ_WORKERS | 1 | processes `tandemq run` starts (a supervisor restarts any that crash) |
| TANDEMQ_LEASE_SECONDS | 15 | lease of a running task; renewed every third of it |
| TANDEMQ_SHUTDOWN_TIMEOUT_SECONDS | 10 | how long running handlers may finish on SIGTERM |
| TANDEMQ_DEFAULT_TIMEOUT_SECONDS | 1800 | per-attempt timeout for tasks sent without one |
| TANDEMQ_POLL_INTERVAL_SECONDS | 1 | fallback poll of an idle processor (wake-ups come first) |
| TANDEMQ_BLOCKING_TAKE | true | an idle processor parks a blocking move per queue (the task comes in the reply that wakes it); false: wake-up message, then a dequeue |
| TANDEMQ_REDIS_RETRIES | 3 | reconnect attempts (with backoff) before BrokerUnavailable |
| TANDEMQ_REDIS_TIMEOUT_SECONDS | 5 | longest one Redis round trip may take before BrokerUnavailable |
| TANDEMQ_MAX_PAYLOAD_BYTES | 1048576 | send() refuses larger payloads with PayloadTooLarge |
| TANDEMQ_ARCHIVE_MAX_SIZE | 10000 | archived tasks kept per queue |
| TANDEMQ_ARCHIVE_MAX_AGE_SECONDS | 7776000 | archived tasks older than this are deleted (90 days) |
| TANDEMQ_LOG_FORMAT | auto | json, console, or auto (console on a TTY, else json) |
| TANDEMQ_LOG_LEVEL | INFO | DEBUG, INFO, WARNING, ERROR |
| TANDEMQ_UNKNOWN_TYPE_GRACE_SECONDS | 60 | a task of a type no live processor handles is archived after this long (until then it waits for one) |
| TANDEMQ_ALLOW_EVICTION | false | start even though Redis may evict keys (an allkeys-* maxmemory-policy): tasks can vanish |
| TANDEMQ_MAX_LOOP_BLOCK_SECONDS | 3 leases | event loop blocked longer than this: the process is hung, its leases are no longer renewed |
| TANDEMQ_METRICS_PORT | (off) | serve /metrics, /healthz, /readyz on this port (docs/OPERATIONS.md, metrics) |
| TANDEMQ_METRICS_HOST | 0.0.0.0 | address the metrics port listens on |
| TANDEMQ_METRICS_QUEUE_GAUGES | true | also export queue sizes (turn off on all but one exporter) |
| TANDEMQ_METRICS_QUEUE_GAUGES_INTERVAL_SECONDS | 10 | how often the queue gauges are read from Redis |
| TANDEMQ_QUEUE_CONCURRENCY | (none) | per queue, most tasks one processor runs at once: emails=5 |
| TANDEMQ_RATE_LIMITS | (none) | per queue, across all processors: emails=100/s,sms=20/m:5 (:burst) |

Connection options (credentials, timeouts, pool, TLS, Sentinel): common/redis_settings.py.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .errors import ConfigError
from .keys import validate_queue_name
from .ratelimit import RateLimit, parse_queue_concurrency, parse_rate_limit, parse_rate_limits
from .redact import redact_url
from .redis_options import RedisOptions
from .redis_settings import RedisSettings

ENV_PREFIX = "TANDEMQ_"


def parse_queues(spec: str) -> dict[str, int]:
    """``"critical=6,default=3,low=1"`` -> ``{"critical": 6, "default": 3, "low": 1}``.

    A name without ``=weight`` gets weight 1. Order is kept: it is the strict-priority order.
    """
    queues: dict[str, int] = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        name, sep, weight = item.strip().partition("=")
        name = name.strip()
        try:
            value = int(weight) if sep else 1
        except ValueError:
            raise ValueError(
                f"weight of queue {name!r} must be an integer, got {weight!r}"
            ) from None
        if name in queues:
            raise ValueError(f"queue {name!r} is listed twice")
        queues[name] = value
    return queues


class Settings(RedisSettings):
    """Everything configurable, each field documented in the module table above (the
    connection fields in common/redis_settings.py)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", populate_by_name=True)

    redis_url: str = Field(
        "redis://localhost:6379/0", validation_alias=AliasChoices("redis_url", "REDIS_URL")
    )
    prefix: str = "tandemq"
    queues: Annotated[dict[str, int], NoDecode] = Field(default_factory=lambda: {"default": 1})
    strict_priority: bool = False
    concurrency: int = Field(10, ge=1, le=100_000)
    workers: int = Field(1, ge=1, le=256)
    lease_seconds: float = Field(15.0, ge=0.5, le=3600)
    shutdown_timeout_seconds: float = Field(10.0, ge=0, le=86_400)
    default_timeout_seconds: float = Field(1800.0, gt=0)
    poll_interval_seconds: float = Field(1.0, gt=0, le=60)
    blocking_take: bool = True
    redis_retries: int = Field(3, ge=0, le=100)
    redis_timeout_seconds: float = Field(5.0, gt=0, le=3600)
    max_payload_bytes: int = Field(1_048_576, ge=1)
    archive_max_size: int = Field(10_000, ge=0)
    archive_max_age_seconds: float = Field(90 * 86_400, gt=0)
    log_format: Literal["json", "console", "auto"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # -- reliability (issue 10) --
    max_loop_block_seconds: float | None = Field(None, gt=0)
    unknown_type_grace_seconds: float = Field(60.0, ge=0)
    allow_eviction: bool = False
    # -- ops port: metrics and health probes (processor/ops.py, docs/OPERATIONS.md, metrics) --
    metrics_port: int | None = Field(None, ge=0, le=65535)
    metrics_host: str = "0.0.0.0"
    metrics_queue_gauges: bool = True
    metrics_queue_gauges_interval_seconds: float = Field(10.0, gt=0, le=3600)
    # -- per-queue limits (common/ratelimit.py, processor/limits.py) ----------------------
    queue_concurrency: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    rate_limits: Annotated[dict[str, RateLimit], NoDecode] = Field(default_factory=dict)

    @field_validator("queue_concurrency", mode="before")
    @classmethod
    def _parse_queue_concurrency(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_queue_concurrency(value)
        if isinstance(value, dict):
            return parse_queue_concurrency(",".join(f"{k}={v}" for k, v in value.items()))
        return value

    @field_validator("rate_limits", mode="before")
    @classmethod
    def _parse_rate_limits(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_rate_limits(value)
        if isinstance(value, dict):
            for name in value:
                validate_queue_name(name)
            return {k: parse_rate_limit(v) if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("queues", mode="before")
    @classmethod
    def _parse_queues(cls, value: Any) -> Any:
        parsed = parse_queues(value) if isinstance(value, str) else value
        if isinstance(parsed, dict):
            if not parsed:
                raise ValueError("at least one queue is required")
            for name, weight in parsed.items():
                validate_queue_name(name)
                if not isinstance(weight, int) or weight < 1:
                    raise ValueError(f"weight of queue {name!r} must be an integer >= 1")
        return parsed

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("redis_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        _check_url_parts(value)
        return value

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not value or "{" in value or "}" in value:
            raise ValueError("prefix must be non-empty and without braces")
        return value

    def redis_options(self) -> RedisOptions:
        """How to connect (common/redis_options.py); raises ConfigError for options that clash."""
        return RedisOptions.from_settings(self, self.redis_url, self.redis_retries)

    @classmethod
    def load(cls, *, env: bool = True, **overrides: Any) -> Settings:
        """Read the environment (unless ``env=False``); keyword overrides win.

        Raises ConfigError naming the variable or keyword and the value it got.
        """
        given = {k: v for k, v in overrides.items() if v is not None}
        try:
            return cls(**given) if env else _KeywordsOnly(**given)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, given)) from None


class _KeywordsOnly(Settings):
    """Settings from keywords and defaults only: what an explicit constructor call gives."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _describe(exc: ValidationError, overrides: dict[str, Any]) -> str:
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        if field in overrides:
            source, value = f"keyword {field}", overrides[field]
        else:
            source = (
                "REDIS_URL" if field in ("redis_url", "REDIS_URL") else ENV_PREFIX + field.upper()
            )
            value = os.environ.get(source, error.get("input"))
        if source in ("REDIS_URL", "keyword redis_url") and isinstance(value, str):
            value = redact_url(value)  # never print its password
        problems.append(f"{source}={value!r}: {error['msg']}")
    return "invalid configuration: " + "; ".join(problems)


def _check_url_parts(url: str) -> None:
    """Port and database of a redis:// URL, checked here: redis-py takes ``/abc`` as db 0."""
    parts = urlsplit(url)
    try:
        port = parts.port  # raises for a port that is not a number in range
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if port == 0:
        raise ValueError("the port must be a number from 1 to 65535")
    dbs = [parts.path.lstrip("/")] if parts.scheme != "unix" else []
    dbs += parse_qs(parts.query).get("db", [])
    for db in dbs:
        if db and not (db.isdigit() and int(db) < 1_000_000):
            raise ValueError(f"the database must be a number (redis://host:6379/0), got {db!r}")
