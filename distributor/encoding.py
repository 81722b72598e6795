"""A payload as send writes it: its wire type name and its JSON, refused with a SendError
that says how to fix it when either cannot be made."""

from __future__ import annotations

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from tandemq.common.errors import MainModuleType, PayloadNotEncodable
from tandemq.common.registry import TYPE_ATTRIBUTE, handled_here, type_name


def send_type_name(model: type[BaseModel]) -> str:
    """The model's wire type name; refused when it is ``__main__.X`` (a model defined in a
    script run by path, without a ``tandemq_type``) and no processor of this process handles
    it: a processor elsewhere, which imports the model from its module, registers another
    name, so every such task would be archived."""
    name = type_name(model)
    if name.startswith("__main__.") and not handled_here(name):
        raise MainModuleType(
            f"payload model {model.__qualname__} is defined in the script being run"
            f" (__main__), so its type name would be {name!r}, which no processor"
            " registers; move the model to a module both sides import, or give it a"
            f' stable name: {TYPE_ATTRIBUTE}: ClassVar[str] = "your.name"'
        )
    return name


def encode(payload: BaseModel, name: str) -> bytes:
    """The payload's JSON, as pydantic writes it."""
    try:
        return payload.__pydantic_serializer__.to_json(payload)
    except PydanticSerializationError as exc:
        raise PayloadNotEncodable(
            f"{name} payload cannot be written as JSON: {exc}; bytes fields must hold UTF-8"
            " text (use pydantic's Base64Bytes for binary data)"
        ) from None
