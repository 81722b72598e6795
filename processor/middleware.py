"""Middleware around every handler call, and the lifespan that gives handlers shared state.

A middleware is ``async def mw(payload, ctx, call_next)``: it runs code before and after
``await call_next()`` (which runs the next middleware, and finally the handler) and returns
what ``call_next`` returned. The first one registered is the outermost. Exceptions are not
touched here: whatever the handler raises (an error, SkipRetry, RetryIn) reaches the outcome
as raised, unless a middleware chooses to catch it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, Generic

from pydantic import BaseModel

from tandemq.common.errors import TandemqError
from tandemq.common.logging import get_logger

from .handlers import S, TaskContext

CallNext = Callable[[], Awaitable[Any]]
Middleware = Callable[[BaseModel, TaskContext[S], CallNext], Awaitable[Any]]
# Called once per processor start; what it yields is ``ctx.state`` until shutdown, when the
# code after its ``yield`` runs (close the pool, the HTTP client ...).
Lifespan = Callable[[], AbstractAsyncContextManager[S]]


def chain(
    middlewares: Sequence[Middleware[Any]],
    payload: BaseModel,
    ctx: TaskContext[Any],
    call: CallNext,
) -> Awaitable[Any]:
    """``call`` wrapped in ``middlewares``, the first outermost."""
    for mw in reversed(middlewares):
        call = functools.partial(mw, payload, ctx, call)
    return call()


class HooksMixin(Generic[S]):
    """The Processor's lifespan and middleware registration."""

    _parts: object | None  # set while the processor runs

    def _init_hooks(self, lifespan: Lifespan[S] | None) -> None:
        self._lifespan = lifespan
        self._middlewares: list[Middleware[S]] = []
        self._resources: AsyncExitStack | None = None
        self.state: S = None  # type: ignore[assignment]  # what the lifespan yielded, once started

    def middleware(self, mw: Middleware[S]) -> Middleware[S]:
        """Decorator: ``async def mw(payload, ctx, call_next)`` around every handler call;
        the first registered runs outermost. Register before start."""
        if self._parts is not None:
            raise TandemqError("register middleware before the processor starts")
        self._middlewares.append(mw)
        return mw

    async def _open_resources(self) -> None:
        """Run the lifespan's startup: its resources exist before any task is fetched."""
        if self._lifespan is None:
            return
        self._resources = AsyncExitStack()
        self.state = await self._resources.enter_async_context(self._lifespan())
        get_logger(__name__).info("processor.lifespan_started")

    async def _close_resources(self) -> None:
        """Run the lifespan's shutdown (after the last handler finished)."""
        if self._resources is not None:
            resources, self._resources = self._resources, None
            await resources.aclose()
            get_logger(__name__).info("processor.lifespan_stopped")
