"""The one payload both sides share: an email to send."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field


class Email(BaseModel):
    """The JSON body of ``POST /emails``, and the task's payload as it is."""

    tandemq_type: ClassVar[str] = "email_api.send_email"  # a stable wire name
    recipient: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(max_length=100_000)
