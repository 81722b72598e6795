"""Issue 10, items 1, 5 and 6 for SyncDistributor: the async client's error contract on the
synchronous path (see tests/faults/test_errors.py and test_startup.py for the async twins).

An evicting Redis is refused on first connect; an ACL denial, a wrong password and a full Redis
are typed TandemqErrors without the password; a send cut by a Redis kill says whether it may
have landed (OutcomeUnknown with its task id) and one reported "not written" never was."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from redis import Redis

from tandemq import SyncDistributor
from tandemq.common.errors import (
    BrokerUnavailable,
    ConfigError,
    OutcomeUnknown,
    RedisAuthFailed,
    RedisPermissionDenied,
    SendManyIncomplete,
    TaskIdConflict,
)
from tandemq.common.keys import Keys
from tandemq.common.settings import Settings
from tests.apps import Work
from tests.faults.harness import AOF_ALWAYS, hold_writes
from tests.support import RedisServer


@pytest.fixture
def admin(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    client.close()


def test_an_allkeys_eviction_policy_is_refused_on_first_connect_unless_allowed() -> None:
    server = RedisServer(extra=("--maxmemory", "20mb", "--maxmemory-policy", "allkeys-lru")).start()
    try:
        with (
            pytest.raises(ConfigError, match="allkeys-lru") as caught,
            SyncDistributor(redis_url=server.url, prefix="evict"),
        ):
            pass
        assert "TANDEMQ_ALLOW_EVICTION" in str(caught.value)
        # without the context manager, the first send checks
        plain = SyncDistributor(redis_url=server.url, prefix="evict")
        with pytest.raises(ConfigError, match="allkeys-lru"):
            plain.send(Work(n=1))
        with pytest.raises(ConfigError, match="allkeys-lru"):
            plain.send_many([Work(n=1)])
        plain.close()
        allowed = Settings.load(
            env=False, redis_url=server.url, prefix="evict", allow_eviction=True
        )
        with SyncDistributor(settings=allowed) as distributor:
            info = distributor.send(Work(n=1))
            assert distributor.get_task(info.id) is not None
    finally:
        server.stop()


def test_an_acl_denial_is_a_tandemq_error_naming_the_command(
    admin: Redis, redis_url: str, prefix: str
) -> None:
    user, password = f"tq-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin.execute_command(
        "ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all", "-evalsha"
    )
    try:
        url = redis_url.replace("redis://", f"redis://{user}:{password}@")
        with SyncDistributor(redis_url=url, prefix=prefix) as distributor:
            with pytest.raises(RedisPermissionDenied) as caught:
                distributor.send(Work(n=1))
            assert "evalsha" in str(caught.value).lower()
            assert password not in str(caught.value)
            with pytest.raises(RedisPermissionDenied):
                distributor.send_many([Work(n=i) for i in range(3)])
    finally:
        admin.execute_command("ACL", "DELUSER", user)


def test_a_wrong_password_is_a_config_error_without_the_password(
    admin: Redis, redis_url: str, prefix: str
) -> None:
    user, password = f"tq-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all")
    try:
        url = redis_url.replace("redis://", f"redis://{user}:wrong-{password}@")
        with (
            pytest.raises(RedisAuthFailed) as caught,
            SyncDistributor(redis_url=url, prefix=prefix),
        ):
            pass
        assert password not in str(caught.value)
        assert not isinstance(caught.value.__cause__, RedisAuthFailed)
    finally:
        admin.execute_command("ACL", "DELUSER", user)


def test_send_many_stopped_by_a_full_redis_says_which_ids_were_written() -> None:
    server = RedisServer(extra=("--maxmemory-policy", "noeviction")).start()
    prefix = f"err-{uuid.uuid4().hex[:8]}"
    client = Redis.from_url(server.url)
    try:
        used = int(client.info("memory")["used_memory"])
        client.config_set("maxmemory", used + 2_000_000)
        with (
            SyncDistributor(redis_url=server.url, prefix=prefix) as distributor,
            pytest.raises(SendManyIncomplete) as caught,
        ):
            distributor.send_many([Work(n=i) for i in range(20_000)])
        error = caught.value
        pending = {v.decode() for v in client.lrange(Keys(prefix).queue("default").pending, 0, -1)}
        print(
            f"FAULTS sync-send-many-oom: n=20000 written={len(error.written)}"
            f" not_written={len(error.not_written)} unknown={len(error.unknown)}"
        )
        assert error.written and error.not_written
        assert len(error.written) + len(error.not_written) + len(error.unknown) == 20_000
        assert set(error.written) == pending
    finally:
        client.close()
        server.stop()


def test_sends_cut_by_a_redis_kill_say_whether_they_may_have_landed() -> None:
    server = RedisServer(extra=AOF_ALWAYS).start()
    prefix = f"err-{uuid.uuid4().hex[:8]}"
    settings = Settings.load(
        env=False, redis_url=server.url, prefix=prefix, redis_retries=1, redis_timeout_seconds=1
    )
    outcomes: dict[str, str] = {}
    enough = threading.Event()
    lock = threading.Lock()

    def sender(distributor: SyncDistributor, worker: int) -> None:
        for i in range(100_000):
            task_id = f"w{worker}-{i}"
            try:
                distributor.send(Work(n=i), task_id=task_id)
                outcome = "ok"
            except OutcomeUnknown as exc:
                assert exc.task_id == task_id and task_id in str(exc)
                outcome = "unknown"
            except BrokerUnavailable:
                outcome = "not written"
            with lock:
                outcomes[task_id] = outcome
                if sum(o == "ok" for o in outcomes.values()) >= 2_000:
                    enough.set()
            if outcome != "ok":
                return

    try:
        with SyncDistributor(settings=settings) as distributor, ThreadPoolExecutor(32) as pool:
            senders = [pool.submit(sender, distributor, w) for w in range(32)]
            assert enough.wait(120)
            asyncio.run(hold_writes(server.url, blocked=8))
            server.stop(keep_data=True, kill=True)  # mid-send: 8 or more threads in flight
            for done in senders:
                done.result()
        server.start()  # AOF always: every write Redis ran is back
        client = Redis.from_url(server.url)
        qk = Keys(prefix).queue("default")
        stored = {i: bool(client.exists(qk.task(i))) for i in outcomes}
        client.close()
        wrongly_not_written = [i for i, o in outcomes.items() if o == "not written" and stored[i]]
        unknown = [i for i, o in outcomes.items() if o == "unknown"]
        lost_ok = [i for i, o in outcomes.items() if o == "ok" and not stored[i]]
        print(
            f"FAULTS sync-send-outcome: n={len(outcomes)} injected='Redis SIGKILLed mid-send,"
            f" 32 threads' unknown={len(unknown)} (stored {sum(stored[i] for i in unknown)})"
            f" not_written={sum(o == 'not written' for o in outcomes.values())}"
            f" wrongly_not_written={len(wrongly_not_written)} lost={len(lost_ok)}"
        )
        assert wrongly_not_written == [] and lost_ok == []
        assert len(unknown) >= 8  # each send Redis held when it died
        with SyncDistributor(settings=settings) as again:  # resending an unknown one is safe
            for task_id in unknown:
                try:
                    again.send(Work(n=0), task_id=task_id)
                    assert not stored[task_id]
                except TaskIdConflict:
                    assert stored[task_id]
    finally:
        server.stop()
