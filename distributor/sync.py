"""SyncDistributor: the Distributor for synchronous code (Django, Flask, scripts, threads).

The same options, checks, task encoding and Lua scripts as the async Distributor (both build
on DistributorCore and common/calls.py), on redis-py's synchronous client. One instance may
be shared by every thread of a process: the client's connection pool is thread-safe.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

from pydantic import BaseModel
from redis import Redis

from tandemq.common.calls import WATCH_REGISTERED
from tandemq.common.errors import NotReplicated, OutcomeUnknown, TaskIdConflict, WaitTimeout
from tandemq.common.keys import Keys
from tandemq.common.preflight import check_redis_sync
from tandemq.common.replication import Confirm
from tandemq.common.settings import Settings
from tandemq.common.sync_broker import SyncBroker
from tandemq.common.task import TaskInfo

from .core import CancelResult, DistributorCore, unknown_send
from .hooks import SendHook
from .options import DEFAULT_MAX_RETRY, DEFAULT_QUEUE, SendOptions


class SyncDistributor(DistributorCore):
    """Sends typed tasks from synchronous code. ``with SyncDistributor.from_env() as d:``."""

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        prefix: str | None = None,
        redis: Redis | None = None,
        settings: Settings | None = None,
        send_hooks: Sequence[SendHook] = (),
    ) -> None:
        super().__init__(
            settings or Settings.load(env=False, redis_url=redis_url, prefix=prefix), send_hooks
        )
        s = self.settings
        self._owns_redis = redis is None
        # The sync client has no other way to bound a round trip than its socket timeout
        # (a send's WAIT for replicas blocks up to its own timeout on top).
        waits = s.send_replicas_timeout_seconds if s.send_replicas else 0.0
        bound = s.redis_timeout_seconds + waits
        self.redis = redis or s.redis_options().sync_client(read_timeout=bound)
        self._broker = SyncBroker(self.redis, Keys(s.prefix), timeout=s.redis_timeout_seconds)
        self._checked = False  # Redis' eviction policy (see _check_redis)

    @classmethod
    def from_env(cls, *, send_hooks: Sequence[SendHook] = (), **overrides: Any) -> SyncDistributor:
        """Settings from the environment (REDIS_URL, TANDEMQ_PREFIX); keywords override."""
        return cls(settings=Settings.load(**overrides), send_hooks=send_hooks)

    def __enter__(self) -> Self:
        try:
            self._broker.load_scripts()
            self._check_redis()
        except BaseException:
            self.close()  # no __exit__ follows a failed __enter__
            raise
        return self

    def _check_redis(self) -> None:
        """On first connect: refuse a Redis that may evict tasks (ConfigError), as the async
        Distributor does (common/preflight.py). Threads racing here both check: harmless."""
        check_redis_sync(self._broker, self.settings.allow_eviction)
        self._checked = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_redis:
            self.redis.close()

    def send(
        self,
        payload: BaseModel,
        *,
        queue: str = DEFAULT_QUEUE,
        max_retry: int = DEFAULT_MAX_RETRY,
        process_in: timedelta | None = None,
        process_at: datetime | None = None,
        timeout: timedelta | None = None,
        deadline: datetime | None = None,
        task_id: str | None = None,
        retention: timedelta | None = None,
        unique_for: timedelta | None = None,
        result_ttl: timedelta | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> TaskInfo:
        """As Distributor.send: one round trip, the same options and errors."""
        options = SendOptions(
            queue, max_retry, process_in, process_at, timeout, deadline, task_id, retention,
            unique_for, result_ttl,
        )  # fmt: skip
        task = self._new_task(payload, options, headers=headers)
        if not self._checked:
            self._check_redis()
        try:
            self._broker.enqueue(task, self._confirm(task.queue))
        except NotReplicated:  # written: only the replicas' confirmation is missing
            raise
        except OutcomeUnknown as exc:
            raise unknown_send(exc, task) from exc
        except TaskIdConflict:
            if task_id is not None:
                raise
            # a generated id: this send's own retried write (see Distributor.send)
        return self._sent(task, self._info(task, payload))

    def send_many(
        self,
        payloads: Sequence[BaseModel],
        *,
        queue: str = DEFAULT_QUEUE,
        max_retry: int = DEFAULT_MAX_RETRY,
        process_in: timedelta | None = None,
        process_at: datetime | None = None,
        timeout: timedelta | None = None,
        deadline: datetime | None = None,
        retention: timedelta | None = None,
        result_ttl: timedelta | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> list[TaskInfo]:
        """As Distributor.send_many: every payload checked first, then pipelined writes."""
        options = SendOptions(
            queue, max_retry, process_in, process_at, timeout, deadline, None, retention,
            result_ttl=result_ttl,
        )  # fmt: skip
        chunks, infos = self._plan_many(payloads, options, headers)
        if not self._checked:
            self._check_redis()
        # SendManyIncomplete when it stops part-way
        self._broker.enqueue_chunks(chunks, self._confirm(queue))
        self._log.info("task.enqueued_many", queue=queue, count=len(infos))
        return infos

    def _confirm(self, queue: str) -> Confirm | None:
        """With TANDEMQ_SEND_REPLICAS, the WAIT a send ends in (common/replication.py)."""
        s = self.settings
        if not s.send_replicas:
            return None
        return Confirm(queue, s.send_replicas, s.send_replicas_timeout_seconds)

    def get_task(self, task_id: str, queue: str = DEFAULT_QUEUE) -> TaskInfo | None:
        """As Distributor.get_task."""
        return self._broker.get(queue, task_id)

    def wait(
        self,
        task_id: str,
        queue: str = DEFAULT_QUEUE,
        timeout: timedelta | float | None = None,
    ) -> TaskInfo:
        """As Distributor.wait: blocks this thread (not the others) until the task is final."""
        # a blocked read must end well inside the socket timeout that bounds a round trip
        budget, recheck = self._wait_budget(timeout, self.settings.redis_timeout_seconds / 2)
        deadline = time.monotonic() + budget
        while True:
            if self._broker.watch(queue, task_id) != WATCH_REGISTERED:
                info = self._waited(task_id, queue, self._broker.get(queue, task_id))
                if info is not None:
                    return info
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(task_id, queue, budget)
            self._broker.wait_signal(queue, task_id, min(left, recheck))

    def cancel(self, task_id: str, queue: str = DEFAULT_QUEUE) -> CancelResult:
        """As Distributor.cancel."""
        return self._canceled(task_id, queue, self._broker.cancel(queue, task_id))
