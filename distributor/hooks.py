"""Headers a task carries from its sender to its handler, and send hooks that add them.

A send hook runs for every ``send`` (and once per ``send_many`` call) just before the write,
and may add headers: trace propagation injects the current trace context there, and the
handler reads it back from ``ctx.headers`` (see examples/otel). Headers are stored with the
task as compact JSON; a task without headers stores nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tandemq.common.errors import InvalidSendOptions

MAX_HEADERS_BYTES = 8192


@dataclass(slots=True)
class Outgoing:
    """The task a send hook sees: its type and queue, and headers it may add to."""

    type: str
    queue: str
    headers: dict[str, str] = field(default_factory=dict)


SendHook = Callable[[Outgoing], None]


def encode_headers(headers: Mapping[str, str]) -> str | None:
    """Headers as stored (None when there are none); raises InvalidSendOptions."""
    if not headers:
        return None
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str) or not name:
            raise InvalidSendOptions(
                f"headers must map non-empty str to str, got {name!r}: {value!r}"
            )
        if "\x1f" in name or "\x1f" in value:
            raise InvalidSendOptions(f"header {name!r} holds the reserved character \\x1f")
    encoded = json.dumps(dict(headers), separators=(",", ":"), ensure_ascii=False)
    if len(encoded.encode()) > MAX_HEADERS_BYTES:
        raise InvalidSendOptions(f"headers take {len(encoded)} bytes, over {MAX_HEADERS_BYTES}")
    return encoded


def run_hooks(
    hooks: list[SendHook], type_: str, queue: str, headers: Mapping[str, str] | None
) -> str | None:
    """The headers to store: the caller's, plus what every hook added."""
    outgoing = Outgoing(type_, queue, dict(headers or {}))
    for hook in hooks:
        hook(outgoing)
    return encode_headers(outgoing.headers)
