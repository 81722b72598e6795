"""The web side: ``POST /emails`` sends a task, ``GET /emails/{id}`` tells how it went.

    uvicorn examples.email_api.app:app

With EMAIL_API_EMBEDDED_PROCESSOR=1 the processor runs inside this process (the lifespan
starts it with ``async with``; uvicorn keeps its own SIGTERM/SIGINT handling).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, status
from pydantic import BaseModel

from tandemq import Distributor, TaskState

from .messages import Email

# tandemq logs through the logging module, and uvicorn configures only its own loggers: show
# tandemq's events (task.enqueued, processor.started, ...) on stderr beside uvicorn's lines.
_tandemq_log = logging.getLogger("tandemq")
_tandemq_log.addHandler(logging.StreamHandler())
_tandemq_log.setLevel(logging.INFO)

EMBEDDED = os.environ.get("EMAIL_API_EMBEDDED_PROCESSOR", "").lower() in ("1", "true", "yes")
KEEP_DONE = timedelta(hours=1)  # completed tasks stay readable this long (GET /emails/{id})


class Accepted(BaseModel):
    id: str
    state: TaskState


class Status(BaseModel):
    id: str
    state: TaskState
    recipient: str
    retried: int
    last_error: str | None
    completed_at: datetime | None


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        app.state.distributor = await stack.enter_async_context(Distributor.from_env())
        if EMBEDDED:
            from .worker import make_processor  # noqa: PLC0415 - only when embedded

            await stack.enter_async_context(make_processor())
        yield


app = FastAPI(title="email API (tandemq example)", lifespan=lifespan)


def distributor(request: Request) -> Distributor:
    d: Distributor = request.app.state.distributor
    return d


Sender = Annotated[Distributor, Depends(distributor)]


@app.post("/emails", status_code=status.HTTP_202_ACCEPTED)
async def send_email(email: Email, d: Sender) -> Accepted:
    info = await d.send(email, retention=KEEP_DONE)
    return Accepted(id=info.id, state=info.state)


@app.get("/emails/{email_id}")
async def email_status(email_id: str, d: Sender) -> Status:
    info = await d.get_task(email_id)
    if info is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no email {email_id} (or expired)")
    return Status(
        id=info.id,
        state=info.state,
        recipient=str(info.payload.get("recipient", "")),
        retried=info.retried,
        last_error=info.last_error,
        completed_at=info.completed_at,
    )


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
