"""The signup service: ``POST /signup`` creates the user row and sends the verify email task
in one database transaction, through the tandemq outbox. Either both happen or neither:
a failed insert sends nothing, and a committed user always gets its task, even if Redis is
down at that moment (the relay delivers it once Redis is back).

    uvicorn examples.signup.app:app
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI, HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from .db import Session, User, create_tables, outbox
from .messages import SendVerifyEmail

# 10 s as the scenario asks: time for the user to see "check your inbox" first
VERIFY_DELAY = timedelta(seconds=float(os.environ.get("SIGNUP_VERIFY_DELAY_SECONDS", "10")))


class SignupIn(BaseModel):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)
    name: str = Field(min_length=1, max_length=200)


class SignedUp(BaseModel):
    user_id: int
    verify_task_id: str


class UserOut(BaseModel):
    id: int
    email: str
    verification_emails: int


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await create_tables()
    yield


app = FastAPI(title="signup (tandemq outbox example)", lifespan=lifespan)


@app.post("/signup", status_code=status.HTTP_201_CREATED)
async def signup(form: SignupIn) -> SignedUp:
    try:
        async with Session() as session, session.begin():
            user = User(email=form.email, name=form.name)
            session.add(user)
            await session.flush()  # the user's id, and a duplicate email fails here
            task_id = await outbox.send(
                session,
                SendVerifyEmail(user_id=user.id, email=user.email),
                queue="critical",
                max_retry=10,
                process_in=VERIFY_DELAY,
            )
    except IntegrityError:
        raise HTTPException(status.HTTP_409_CONFLICT, "this email is already signed up") from None
    return SignedUp(user_id=user.id, verify_task_id=task_id)


@app.get("/users/{user_id}")
async def get_user(user_id: int) -> UserOut:
    async with Session() as session:
        user = await session.get(User, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {user_id}")
    return UserOut(id=user.id, email=user.email, verification_emails=user.verification_emails)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
