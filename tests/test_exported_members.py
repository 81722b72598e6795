"""The public surface: every name in ``tandemq.__all__``, ``tandemq.distributor.__all__`` and
``tandemq.processor.__all__`` and ``tandemq.inspector.__all__`` exists
and imports, exported errors sit in the documented tree, and the public classes' and
functions' signatures are fully annotated (with annotations that resolve)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

import tandemq
from tandemq import distributor, inspector, processor
from tandemq.common.errors import SendError, TandemqError

PACKAGES = [tandemq, distributor, processor, inspector]


def _exports() -> Iterator[tuple[ModuleType, str]]:
    for package in PACKAGES:
        for name in package.__all__:
            yield package, name


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_all_is_a_list_of_unique_names(package: ModuleType) -> None:
    names = package.__all__
    assert isinstance(names, list | tuple)
    assert names
    assert all(isinstance(n, str) and n and not n.startswith("_") for n in names)
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(
    ("package", "name"), list(_exports()), ids=lambda v: getattr(v, "__name__", v)
)
def test_every_exported_name_exists_and_imports(package: ModuleType, name: str) -> None:
    assert hasattr(package, name), f"{package.__name__}.__all__ names missing {name!r}"
    fresh = importlib.import_module(package.__name__)
    namespace: dict[str, Any] = {}
    exec(f"from {package.__name__} import {name} as imported", namespace)
    assert namespace["imported"] is getattr(fresh, name)


def test_star_import_gives_exactly_all() -> None:
    for package in PACKAGES:
        namespace: dict[str, Any] = {}
        exec(f"from {package.__name__} import *", namespace)
        assert set(namespace) - {"__builtins__"} == set(package.__all__)


def test_the_documented_entry_points_are_exported() -> None:
    assert {"Distributor", "SendOptions", "TaskInfo", "TaskState"} <= set(distributor.__all__)
    assert {"InvalidSendOptions", "TaskIdConflict", "DuplicateTask", "PayloadTooLarge"} <= set(
        distributor.__all__
    )
    assert {"Processor", "TaskContext", "SkipRetry", "RetryIn", "default_retry_delay"} <= set(
        processor.__all__
    )
    top = {"Distributor", "Processor", "TaskContext", "TaskInfo", "SkipRetry", "RetryIn"}
    assert top | {"TandemqError", "ConfigError", "BrokerUnavailable", "SendError"} <= set(
        tandemq.__all__
    )


def test_exported_errors_are_in_the_documented_tree() -> None:
    for package, name in _exports():
        obj = getattr(package, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            if name in ("SkipRetry", "RetryIn"):  # handler signals, deliberately not errors
                assert not issubclass(obj, TandemqError)
            else:
                assert issubclass(obj, TandemqError), name
    for name in ("InvalidSendOptions", "TaskIdConflict", "DuplicateTask", "PayloadTooLarge"):
        assert issubclass(getattr(distributor, name), SendError)


def test_packages_ship_a_py_typed_marker() -> None:
    for package in PACKAGES:
        assert (Path(package.__file__ or "").parent / "py.typed").is_file()


# -- annotations ------------------------------------------------------------------------------


def _public_callables() -> Iterator[tuple[str, Callable[..., Any]]]:
    """Exported functions, and the public methods each exported class defines itself."""
    for package, name in _exports():
        obj = getattr(package, name)
        if inspect.isfunction(obj):
            yield f"{package.__name__}.{name}", obj
        elif isinstance(obj, type) and not issubclass(obj, BaseException):
            for attr, member in vars(obj).items():
                if attr.startswith("_") and attr not in ("__init__", "__aenter__", "__aexit__"):
                    continue
                func = member
                if isinstance(member, staticmethod | classmethod):
                    func = member.__func__
                elif isinstance(member, property):
                    func = member.fget
                if inspect.isfunction(func):
                    yield f"{package.__name__}.{name}.{attr}", func


CALLABLES = sorted(dict(_public_callables()).items())


def test_the_public_surface_has_methods_to_check() -> None:
    names = {name for name, _ in CALLABLES}
    for expected in (
        "tandemq.distributor.Distributor.send",
        "tandemq.distributor.Distributor.send_many",
        "tandemq.distributor.Distributor.get_task",
        "tandemq.distributor.Distributor.from_env",
        "tandemq.processor.Processor.handler",
        "tandemq.processor.Processor.run",
        "tandemq.processor.Processor.from_env",
        "tandemq.processor.default_retry_delay",
    ):
        assert expected in names


@pytest.mark.parametrize(("qualname", "func"), CALLABLES, ids=[n for n, _ in CALLABLES])
def test_public_callable_is_fully_annotated(qualname: str, func: Callable[..., Any]) -> None:
    signature = inspect.signature(func, eval_str=True)  # the annotations must also resolve
    params = list(signature.parameters.values())
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    missing = [p.name for p in params if p.annotation is inspect.Parameter.empty]
    assert not missing, f"{qualname}: unannotated parameters {missing}"
    assert signature.return_annotation is not inspect.Signature.empty, (
        f"{qualname}: no return annotation"
    )


def test_taskinfo_fields_are_typed() -> None:
    info_cls: type[BaseModel] = distributor.TaskInfo
    for name, field in info_cls.model_fields.items():
        assert field.annotation is not None, name
