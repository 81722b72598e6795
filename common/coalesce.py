"""Group concurrent calls into one round trip (auto-pipelining).

A call made while no batch is in flight goes out alone at once, so a sequential caller pays
one round trip and nothing more. Calls made while a batch is in flight wait for it and then go
out together in the next one: a hundred coroutines sending at once cost a few round trips
instead of a hundred.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

C = TypeVar("C")

# Runs a batch; returns one result per call, an Exception instance for a call that failed.
RunBatch = Callable[[Sequence[C]], Awaitable[list[object]]]


class Coalescer(Generic[C]):
    def __init__(self, run: RunBatch[C], max_batch: int = 1000) -> None:
        self._run = run
        self._max_batch = max_batch
        self._waiting: list[tuple[C, asyncio.Future[object]]] = []
        self._busy = False
        self._drainer: asyncio.Task[None] | None = None  # a reference keeps it alive

    async def call(self, call: C) -> object:
        if self._busy:
            future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            self._waiting.append((call, future))
            return await future
        self._busy = True
        try:
            result = (await self._run([call]))[0]
        finally:
            self._hand_over()
        if isinstance(result, BaseException):
            raise result
        return result

    def _hand_over(self) -> None:
        """Start a drain of the calls that arrived meanwhile, or go idle."""
        if self._waiting:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        else:
            self._busy = False

    async def _drain(self) -> None:
        while self._waiting:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            try:
                results = await self._run([call for call, _ in batch])
            except Exception as exc:  # the whole round trip failed: every caller in it hears it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            except BaseException:  # cancelled (the loop is closing): nobody waits forever
                for _, future in batch + self._waiting:
                    future.cancel()
                self._waiting.clear()
                self._busy = False
                raise
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the caller was cancelled; its write may still have landed
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        self._busy = False
