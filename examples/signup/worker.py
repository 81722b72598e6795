"""The signup worker: a processor on critical=10,default=5 that "sends" verify emails, with
the outbox relay running inside it (it moves committed outbox rows to Redis).

    tandemq run examples.signup.worker:make_processor
"""

from __future__ import annotations

from sqlalchemy import update

from tandemq import Processor, TaskContext
from tandemq.outbox import Relay

from .db import User, engine, outbox
from .messages import SendVerifyEmail


async def send_verify_email(task: SendVerifyEmail, ctx: TaskContext) -> None:
    # A real service would call its mail provider here; the count shows each run.
    async with engine.begin() as conn:
        await conn.execute(
            update(User)
            .where(User.id == task.user_id)
            .values(verification_emails=User.verification_emails + 1)
        )
    ctx.logger.info("verify_email.sent", user_id=task.user_id, email=task.email)


def make_processor() -> Processor:
    processor = Processor.from_env(queues={"critical": 10, "default": 5})
    processor.handler(SendVerifyEmail)(send_verify_email)
    Relay(engine, outbox, settings=processor.settings).attach(processor)
    return processor
