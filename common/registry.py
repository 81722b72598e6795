"""Payload models and their wire type names.

A payload type is any pydantic model. Its wire name defaults to ``module.QualName``; set a
``tandemq_type: ClassVar[str] = "email.verify"`` on the model to pick a stable name that
survives a rename or a move to another module.
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic import BaseModel

from .errors import RegistryError

TYPE_ATTRIBUTE = "tandemq_type"

# Type names some processor of this process registered a handler for: a model of a script run
# by path (``__main__.X``) may be sent when the same process handles it (see
# distributor/encoding.py).
_HANDLED_HERE: set[str] = set()


def handled_here(name: str) -> bool:
    """Whether a processor of this process has registered a handler for ``name``."""
    return name in _HANDLED_HERE


def type_name(model: type[BaseModel]) -> str:
    """The wire type name of a payload model."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise RegistryError(f"payload type must be a pydantic BaseModel subclass, got {model!r}")
    explicit: Any = getattr(model, TYPE_ATTRIBUTE, None)
    if explicit is not None:
        if not isinstance(explicit, str) or not explicit or not explicit.isprintable():
            raise RegistryError(
                f"{model.__qualname__}.{TYPE_ATTRIBUTE} must be a non-empty printable str"
            )
        return explicit
    return f"{_module_name(model)}.{model.__qualname__}"


def _module_name(model: type[BaseModel]) -> str:
    """The model's module; for ``__main__`` run as ``python -m pkg.mod``, its import name
    (``pkg.mod``), which is what a processor importing the model registers. A script run by
    path stays ``__main__`` (send refuses it: see distributor/encoding.py)."""
    module = model.__module__
    if module == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        if spec is not None and spec.name:
            return str(spec.name)
    return module


class PayloadRegistry:
    """Wire type name -> payload model, failing loudly when two models claim one name."""

    def __init__(self) -> None:
        self._models: dict[str, type[BaseModel]] = {}

    def register(self, model: type[BaseModel]) -> str:
        name = type_name(model)
        known = self._models.get(name)
        if known is not None and known is not model:
            raise RegistryError(
                f"type name {name!r} is claimed by both {known.__module__}.{known.__qualname__}"
                f" and {model.__module__}.{model.__qualname__}"
            )
        self._models[name] = model
        _HANDLED_HERE.add(name)
        return name

    def get(self, name: str) -> type[BaseModel] | None:
        return self._models.get(name)

    def names(self) -> list[str]:
        return sorted(self._models)
