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
from contextlib import AbstractAsyncContextManager
from typing import Any

from pydantic import BaseModel

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
