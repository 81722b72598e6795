"""Task type -> handler, and what a handler is given besides its payload (TaskContext)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from typing_extensions import TypeVar as DefaultTypeVar

from tandemq.common.errors import CorruptTask, InvalidPayload, RegistryError, UnknownTaskType
from tandemq.common.logging import Logger
from tandemq.common.registry import PayloadRegistry

M = TypeVar("M", bound=BaseModel)
# The type of the shared state a processor's lifespan yields (processor.py); Any without one.
S = DefaultTypeVar("S", default=Any)

NO_HEADERS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class TaskContext(Generic[S]):
    """Given to every handler call: which task and attempt this is, a bound logger, the
    headers the task was sent with, and the processor's shared ``state`` (what its lifespan
    yielded: annotate ``ctx: TaskContext[AppState]`` to have it typed)."""

    id: str
    type: str
    queue: str
    retried: int
    max_retry: int
    logger: Logger
    headers: Mapping[str, str] = field(default_factory=lambda: NO_HEADERS)
    state: S = field(default=None)  # type: ignore[assignment]  # None only without a lifespan

    @property
    def attempt(self) -> int:
        """1 for the first run, 2 for the first retry, ..."""
        return self.retried + 1


# A handler may return a value (a pydantic model or anything JSON-able): it is stored with
# the task as its result (docs/RESULTS.md). None stores nothing.
AsyncHandler = Callable[[M, TaskContext[S]], Awaitable[Any]]
SyncHandler = Callable[[M, TaskContext[S]], Any]
Handler = AsyncHandler[M, S] | SyncHandler[M, S]


@dataclass(frozen=True, slots=True)
class _Entry:
    model: type[BaseModel]
    func: Callable[..., Any]
    is_async: bool

    def decode(self, payload: bytes) -> BaseModel:
        try:
            return self.model.model_validate_json(payload)
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                raise CorruptTask(f"payload is not valid JSON: {exc}") from None
            raise InvalidPayload(f"payload does not fit {self.model.__qualname__}: {exc}") from None

    async def call(self, payload: BaseModel, ctx: TaskContext, executor: Executor | None) -> Any:
        if self.is_async:
            return await self.func(payload, ctx)
        # A plain def runs in the pool so blocking code does not stall the loop; contextvars
        # are copied so structlog's bound context follows the call.
        call = functools.partial(contextvars.copy_context().run, self.func, payload, ctx)
        return await asyncio.get_running_loop().run_in_executor(executor, call)


class Handlers:
    """The handler registry of one processor."""

    def __init__(self) -> None:
        self._payloads = PayloadRegistry()
        self._entries: dict[str, _Entry] = {}

    def register(self, model: type[M], func: Handler[M, Any]) -> None:
        name = self._payloads.register(model)
        if name in self._entries:
            raise RegistryError(f"a handler for {name!r} is already registered")
        is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
            getattr(func, "__call__", None)  # noqa: B004 - async callable objects count too
        )
        self._entries[name] = _Entry(model, func, is_async)

    def resolve(self, type_name: str) -> _Entry:
        entry = self._entries.get(type_name)
        if entry is None:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownTaskType(f"no handler for task type {type_name!r} (registered: {known})")
        return entry

    def names(self) -> list[str]:
        return sorted(self._entries)
