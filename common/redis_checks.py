"""Checks made once at start, before the scripts load: a connection that can never work is a
ConfigError now, not a retry loop that never ends (the daemon exits 2). Failures that may
pass (Redis still starting, Sentinels electing) are left to the callers' own retries.

- TLS: a handshake that fails (wrong CA, host name), or a server that hangs up right after it
  (TLS 1.3 servers refuse a missing or unknown client certificate that way, without an alert).
- Sentinel: Sentinels that answer, but none of them monitors TANDEMQ_SENTINEL_MASTER.
"""

from __future__ import annotations

import asyncio
import ssl

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from .errors import ConfigError
from .redis_options import RedisOptions, TLSOptions

_TLS_WORDS = ("SSL", "TLS", "CERTIFICATE")
_HUNG_UP = ("reset by peer", "Connection closed by server")


async def refuse_bad_connection(redis: Redis, options: RedisOptions | None) -> None:
    """Raise ConfigError for a connection set-up that cannot work (see the module doc).
    ``options`` None: a client the caller made, not checked."""
    if options is None:
        return
    if options.topology == "sentinel":
        await _refuse_unknown_master(redis, options)
    if options.tls is not None:
        await _refuse_tls_failure(redis, options.tls)


async def _refuse_unknown_master(redis: Redis, options: RedisOptions) -> None:
    manager = getattr(redis.connection_pool, "sentinel_manager", None)
    if manager is None:
        return
    answers = []
    for sentinel in manager.sentinels:
        try:
            async with asyncio.timeout(options.connect_timeout):
                answers.append(await sentinel.sentinel_get_master_addr_by_name(
                    options.sentinel_master
                ))  # fmt: skip
        except (RedisError, OSError, TimeoutError):
            continue  # down, or not a Sentinel: the others decide
    if answers and all(a is None for a in answers):
        raise ConfigError(
            f"TANDEMQ_SENTINEL_MASTER={options.sentinel_master!r}: none of the"
            f" {len(answers)} Sentinels that answered monitors a primary of that name; give"
            " the name of their `sentinel monitor <name> ...` line (SENTINEL MASTERS lists them)"
        )


async def _refuse_tls_failure(redis: Redis, tls: TLSOptions) -> None:
    try:
        await redis.ping()
    except (RedisConnectionError, OSError) as exc:
        problem = tls_problem(exc, tls)
        if problem is not None:
            raise ConfigError(problem) from None


def tls_problem(exc: BaseException, tls: TLSOptions) -> str | None:
    """What went wrong with TLS in a failed connect, or None when it was not TLS: a server
    certificate the CA does not sign, or a server that hangs up right after the handshake
    (TLS 1.3 servers refuse a missing or unknown client certificate that way, no alert)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    texts = [str(error) for error in seen]
    if any(isinstance(e, ssl.SSLError) for e in seen) or any(
        w in t.upper() for t in texts for w in _TLS_WORDS
    ):
        return (
            f"TLS handshake with Redis failed: {texts[0]}. Check TANDEMQ_TLS_CA_FILE (the CA"
            " that signed the server's certificate), TANDEMQ_TLS_VERIFY, and"
            " TANDEMQ_TLS_CERT_FILE / TANDEMQ_TLS_KEY_FILE"
        )
    if any(isinstance(e, ConnectionResetError) for e in seen) or any(
        w in t for t in texts for w in _HUNG_UP
    ):
        given = "the one in TANDEMQ_TLS_CERT_FILE" if tls.cert_file else "none was given"
        return (
            f"Redis closed the TLS connection right after the handshake ({texts[0]}): it asks"
            f" for a client certificate its CA signed ({given}). Set TANDEMQ_TLS_CERT_FILE and"
            " TANDEMQ_TLS_KEY_FILE to a certificate signed by the CA in the server's"
            " tls-ca-cert-file"
        )
    return None
