"""The processor side: "sends" each email by appending it to an outbox file (no SMTP).

Run it with ``tandemq run examples.email_api.worker:make_processor`` (settings from the
environment: REDIS_URL, TANDEMQ_QUEUES, ...). Every EMAIL_FAIL_EVERY-th attempt (default 3) fails as a
flaky mail server would, so retries show in ``GET /emails/{id}``.
"""

from __future__ import annotations

import itertools
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from tandemq import Processor, TaskContext

from .messages import Email

OUTBOX_FILE = Path(os.environ.get("EMAIL_OUTBOX_FILE", ".tandemq/email-outbox.jsonl"))
FAIL_EVERY = int(os.environ.get("EMAIL_FAIL_EVERY", "3"))


class MailServerBusy(Exception):
    """What a real SMTP server says now and then: try again later."""


_attempts = itertools.count(1)


def send_email(email: Email, ctx: TaskContext) -> None:
    # A plain def: the blocking file write runs in the processor's thread pool.
    if FAIL_EVERY and next(_attempts) % FAIL_EVERY == 0:
        raise MailServerBusy(f"421 busy, try {email.recipient} later")
    OUTBOX_FILE.parent.mkdir(parents=True, exist_ok=True)
    line = {"id": ctx.id, "attempt": ctx.attempt, "sent_at": datetime.now(UTC).isoformat()}
    with OUTBOX_FILE.open("a") as out:  # one short line per write: appends do not interleave
        out.write(json.dumps({**line, **email.model_dump()}) + "\n")
    ctx.logger.info("email.sent", recipient=email.recipient)


def make_processor() -> Processor:
    """A processor for the email handler, settings from the environment."""
    processor = Processor.from_env()
    processor.handler(Email)(send_email)
    return processor
