"""Issue 10, item 5: errors that say exactly what happened.

A send that raised plain BrokerUnavailable wrote nothing; one whose write may have landed
raises OutcomeUnknown with its task id, and sending it again with that id is safe. send_many
stopped part-way says which ids were written. ACL denials and unencodable payloads are
TandemqErrors."""

from __future__ import annotations

import asyncio
import uuid
from typing import ClassVar

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.envelope import entry_id
from tandemq.common.errors import (
    BrokerUnavailable,
    OutcomeUnknown,
    PayloadNotEncodable,
    RedisAuthFailed,
    RedisPermissionDenied,
    SendManyIncomplete,
    TaskIdConflict,
)
from tandemq.common.keys import Keys
from tandemq.common.settings import Settings
from tandemq.distributor import Distributor
from tests.apps import Work
from tests.faults.harness import AOF_ALWAYS, hold_writes
from tests.support import RedisServer


class Blob(BaseModel):
    tandemq_type: ClassVar[str] = "tests.errors.blob"
    data: bytes


async def test_sends_cut_by_a_redis_kill_say_whether_they_may_have_landed() -> None:
    server = RedisServer(extra=AOF_ALWAYS).start()
    prefix = f"err-{uuid.uuid4().hex[:8]}"
    settings = Settings.load(
        env=False, redis_url=server.url, prefix=prefix, redis_retries=1, redis_timeout_seconds=1
    )
    outcomes: dict[str, str] = {}
    try:
        async with Distributor(settings=settings) as distributor:

            async def sender(worker: int) -> None:
                for i in range(10_000):
                    task_id = f"w{worker}-{i}"
                    try:
                        await distributor.send(Work(n=i), task_id=task_id)
                        outcomes[task_id] = "ok"
                    except OutcomeUnknown as exc:
                        assert exc.task_id == task_id
                        outcomes[task_id] = "unknown"
                        return
                    except BrokerUnavailable:
                        outcomes[task_id] = "not written"
                        return

            senders = [asyncio.create_task(sender(w)) for w in range(200)]
            while sum(1 for o in outcomes.values() if o == "ok") < 2_000:  # noqa: ASYNC110
                await asyncio.sleep(0.001)  # a count, not an event: polled
            await hold_writes(server.url, blocked=1)
            server.stop(keep_data=True, kill=True)  # mid-send: senders in flight
            await asyncio.gather(*senders)
        server.start()  # AOF always: every write Redis ran is back
        client = Redis.from_url(server.url)
        qk = Keys(prefix).queue("default")
        stored = {i: bool(await client.exists(qk.task(i))) for i in outcomes}
        await client.aclose()
        wrongly_not_written = [i for i, o in outcomes.items() if o == "not written" and stored[i]]
        unknown = [i for i, o in outcomes.items() if o == "unknown"]
        lost_ok = [i for i, o in outcomes.items() if o == "ok" and not stored[i]]
        print(
            f"FAULTS send-outcome: n={len(outcomes)} injected='Redis SIGKILLed mid-send, 200"
            f" senders' unknown={len(unknown)} (stored {sum(stored[i] for i in unknown)})"
            f" not_written={sum(o == 'not written' for o in outcomes.values())}"
            f" wrongly_not_written={len(wrongly_not_written)} lost={len(lost_ok)}"
        )
        assert wrongly_not_written == [] and lost_ok == []
        assert unknown, "the kill landed between sends: no send was cut mid-flight"
        # Resending an unknown one with its task id is safe: written once, or a conflict.
        async with Distributor(settings=settings) as again:
            for task_id in unknown:
                try:
                    await again.send(Work(n=0), task_id=task_id)
                    assert not stored[task_id]
                except TaskIdConflict:
                    assert stored[task_id]
    finally:
        server.stop()


async def test_send_many_stopped_by_a_full_redis_says_which_ids_were_written() -> None:
    server = RedisServer(extra=("--maxmemory-policy", "noeviction")).start()
    prefix = f"err-{uuid.uuid4().hex[:8]}"
    client = Redis.from_url(server.url)
    try:
        used = int((await client.info("memory"))["used_memory"])
        await client.config_set("maxmemory", used + 2_000_000)
        async with Distributor(redis_url=server.url, prefix=prefix) as distributor:
            with pytest.raises(SendManyIncomplete) as caught:
                await distributor.send_many([Work(n=i) for i in range(20_000)])
        error = caught.value
        qk = Keys(prefix).queue("default")
        pending = {entry_id(e) for e in await client.lrange(qk.pending, 0, -1)}  # envelopes
        print(
            f"FAULTS send-many-oom: n=20000 written={len(error.written)}"
            f" not_written={len(error.not_written)} unknown={len(error.unknown)}"
        )
        assert error.written and error.not_written
        assert len(error.written) + len(error.not_written) + len(error.unknown) == 20_000
        assert set(error.written) == pending
    finally:
        await client.aclose()
        server.stop()


async def test_an_acl_denial_is_a_tandemq_error_naming_the_command(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    user, password = f"tq-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    await redis.execute_command(
        "ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all", "-evalsha"
    )
    try:
        url = redis_url.replace("redis://", f"redis://{user}:{password}@")
        async with Distributor(redis_url=url, prefix=prefix) as distributor:
            with pytest.raises(RedisPermissionDenied) as caught:
                await distributor.send(Work(n=1))
        assert "evalsha" in str(caught.value).lower()
        assert password not in str(caught.value)
    finally:
        await redis.execute_command("ACL", "DELUSER", user)


async def test_a_wrong_password_is_a_config_error_without_the_password(
    redis: Redis, redis_url: str, prefix: str
) -> None:
    user, password = f"tq-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    await redis.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all")
    try:
        url = redis_url.replace("redis://", f"redis://{user}:wrong-{password}@")
        with pytest.raises(RedisAuthFailed) as caught:
            async with Distributor(redis_url=url, prefix=prefix):
                pass
        assert password not in str(caught.value)
    finally:
        await redis.execute_command("ACL", "DELUSER", user)


async def test_non_utf8_bytes_in_a_payload_are_refused_as_a_send_error(
    distributor: Distributor,
) -> None:
    with pytest.raises(PayloadNotEncodable, match="Base64Bytes"):
        await distributor.send(Blob(data=b"\xff\xfe"))
    with pytest.raises(PayloadNotEncodable):
        await distributor.send_many([Blob(data=b"ok"), Blob(data=b"\xff")])
