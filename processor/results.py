"""A handler's return value as the JSON stored with its task (docs/RESULTS.md)."""

from __future__ import annotations

from typing import Any

import pydantic_core
from pydantic import BaseModel

from tandemq.common.errors import InvalidResult


def encode_result(value: Any, limit: int) -> bytes | None:
    """The JSON of ``value`` (a pydantic model, or anything pydantic can dump: dicts, lists,
    dataclasses, datetimes ...), or None for None: nothing to store, nothing to pay.
    Raises InvalidResult when it cannot be encoded or is over ``limit`` bytes."""
    if value is None:
        return None
    try:
        if isinstance(value, BaseModel):
            data = value.__pydantic_serializer__.to_json(value)
        else:
            data = pydantic_core.to_json(value)
    except (pydantic_core.PydanticSerializationError, TypeError, ValueError) as exc:
        raise InvalidResult(
            f"the handler returned a {type(value).__name__} that cannot be stored as JSON"
            f" ({exc}); return a pydantic model or JSON-able data"
        ) from None
    if len(data) > limit:
        raise InvalidResult(
            f"the handler's result is {len(data)} bytes, over the limit of {limit}"
            " (TANDEMQ_MAX_PAYLOAD_BYTES); store large data elsewhere and return a reference"
        )
    return data
