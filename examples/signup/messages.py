"""The task the signup sends through the outbox."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel


class SendVerifyEmail(BaseModel):
    tandemq_type: ClassVar[str] = "signup.send_verify_email"
    user_id: int
    email: str
