"""Host apps that run a processor embedded, in their own process, for tests/processor/
test_embedding.py. ``EMBED_MODE``: ``context`` (``async with processor``) or ``task``
(``asyncio.create_task(processor.run())``, stopped by the host). Tasks use tests/apps.py's
Work and ledger."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tandemq.processor import Processor
from tests.apps import ledger


@contextlib.asynccontextmanager
async def embedded(processor: Processor) -> AsyncIterator[None]:
    if os.environ.get("EMBED_MODE", "context") == "context":
        async with processor:
            yield
        return
    task = asyncio.create_task(processor.run())  # the way: takes no host signal
    try:
        yield
    finally:
        processor.stop()
        await task


def starlette_app() -> Starlette:
    """A Starlette app (run by uvicorn) with the processor in its lifespan."""
    processor = ledger()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with embedded(processor):
            yield

    async def healthz(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/healthz", healthz)], lifespan=lifespan)


async def plain_host() -> None:
    """An asyncio program with its own SIGTERM handler, running a processor beside its work."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with embedded(ledger()):
        print("host.ready", flush=True)
        await stop.wait()
        print("host.got_sigterm", flush=True)
    print("host.stopped", flush=True)


async def standalone() -> None:
    """No host at all: run() takes SIGTERM itself (nobody else handles it)."""
    print("host.ready", flush=True)
    await ledger().run()
    print("host.stopped", flush=True)


if __name__ == "__main__":
    # A host decides where library logs go: here tandemq's events to stdout, where the test
    # looks for processor.stopped (tandemq logs through the logging module, shown only so).
    tandemq_log = logging.getLogger("tandemq")
    tandemq_log.addHandler(logging.StreamHandler(sys.stdout))
    tandemq_log.setLevel(logging.INFO)
    if sys.argv[1:] == ["plain"]:
        asyncio.run(plain_host())
    elif sys.argv[1:] == ["standalone"]:
        asyncio.run(standalone())
    else:
        port = int(sys.argv[1])
        uvicorn.run(starlette_app(), host="127.0.0.1", port=port, log_level="info")
