"""The Distributor: the client an application sends tasks with. No background loops."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.calls import WATCH_REGISTERED
from tandemq.common.errors import OutcomeUnknown, TaskIdConflict, WaitTimeout
from tandemq.common.keys import Keys
from tandemq.common.preflight import check_redis
from tandemq.common.redis_checks import refuse_bad_connection
from tandemq.common.replication import confirm_replicated
from tandemq.common.settings import Settings
from tandemq.common.task import NewTask, TaskInfo

from .core import CancelResult, DistributorCore, new_task_id, new_task_ids, unknown_send
from .hooks import SendHook
from .options import DEFAULT_MAX_RETRY, DEFAULT_QUEUE, SendOptions

__all__ = ["Distributor", "new_task_id", "new_task_ids"]

UNSURE_KEPT = 10_000  # sends with an unknown outcome remembered for their resend


class Distributor(DistributorCore):
    """Sends typed tasks to Redis. Use as ``async with Distributor.from_env() as d: ...``."""

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
        self._owns_redis = redis is None
        s = self.settings
        # Options only for a client of our own (a given client is the caller's to configure).
        self._options = s.redis_options() if redis is None else None
        self.redis = redis if redis is not None else s.redis_options().client()
        self._broker = Broker(self.redis, Keys(s.prefix), timeout=s.redis_timeout_seconds)
        self._checked = False  # Redis' eviction policy (see _check_redis)
        self._unsure: dict[str, NewTask] = {}  # sends that raised OutcomeUnknown, oldest first

    @classmethod
    def from_env(cls, *, send_hooks: Sequence[SendHook] = (), **overrides: Any) -> Distributor:
        """Settings from the environment (REDIS_URL, TANDEMQ_PREFIX); keywords override."""
        return cls(settings=Settings.load(**overrides), send_hooks=send_hooks)

    async def __aenter__(self) -> Self:
        try:
            await refuse_bad_connection(self.redis, self._options)
            await self._broker.load_scripts()
            await self._check_redis()
        except BaseException:
            await self.close()  # no __aexit__ follows a failed __aenter__
            raise
        return self

    async def _check_redis(self) -> None:
        """On first connect: refuse a Redis that may evict tasks (ConfigError)."""
        await check_redis(self._broker, self.settings.allow_eviction)
        self._checked = True

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._broker.aclose()
        if self._owns_redis:
            await self.redis.aclose()

    async def send(
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
        """Write one task in one round trip and return its info.

        Raises InvalidSendOptions, PayloadTooLarge, TaskIdConflict (task_id exists),
        DuplicateTask (unique_for lock held), or BrokerUnavailable once Redis has not answered
        within TANDEMQ_REDIS_RETRIES reconnects and TANDEMQ_REDIS_TIMEOUT_SECONDS.
        """
        options = SendOptions(
            queue,
            max_retry,
            process_in,
            process_at,
            timeout,
            deadline,
            task_id,
            retention,
            unique_for,
            result_ttl,
        )
        task = self._new_task(payload, options, headers=headers)
        if not self._checked:
            await self._check_redis()
        if task_id is not None and task_id in self._unsure:
            await self._refuse_landed(task_id)
        made: list[TaskInfo] = []  # the returned info, made while the task is on its way
        try:
            await self._broker.enqueue(task, lambda: made.append(self._info(task, payload)))
        except OutcomeUnknown as exc:
            self._remember_unsure(task)
            raise unknown_send(exc, task) from exc
        except TaskIdConflict:
            if task_id is not None:
                await self._replicated([task.id], task.queue)  # there: but safe from failover?
                raise
            # A generated id cannot collide: the client retried a send whose reply was lost
            # on a dropped connection, and the first attempt had written the task. (A caller's
            # own id carries a nonce for that case: see enqueue.lua.)
        await self._replicated([task.id], task.queue)
        return self._sent(task, made[0] if made else self._info(task, payload))

    def _remember_unsure(self, task: NewTask) -> None:
        """Keep a send whose outcome is unknown for its resend: one without a caller's id was
        pushed as an envelope, which the resend's task hash check cannot see."""
        if task.nonce is None:
            self._unsure[task.id] = task
            while len(self._unsure) > UNSURE_KEPT:
                del self._unsure[next(iter(self._unsure))]

    async def _refuse_landed(self, task_id: str) -> None:
        """Raise TaskIdConflict when the earlier, unsure send of ``task_id`` had landed."""
        earlier = self._unsure[task_id]
        if await self._broker.landed(earlier):
            await self._replicated([task_id], earlier.queue)
            raise TaskIdConflict(task_id, earlier.queue)
        del self._unsure[task_id]

    async def send_many(
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
        """Write many tasks with the same options in pipelined round trips (ids are generated).

        One ``task.enqueued_many`` log line is written instead of one per task.
        """
        options = SendOptions(
            queue, max_retry, process_in, process_at, timeout, deadline, None, retention,
            result_ttl=result_ttl,
        )  # fmt: skip
        chunks, infos = self._plan_many(payloads, options, headers)
        if not self._checked:
            await self._check_redis()
        # Ids are generated here, so an id that already existed was written by an earlier
        # attempt of this same call whose reply was lost (a retried round trip): not an error.
        await self._broker.enqueue_chunks(chunks)
        await self._replicated([info.id for info in infos], queue)
        self._log.info("task.enqueued_many", queue=queue, count=len(infos))
        return infos

    async def _replicated(self, task_ids: list[str], queue: str) -> None:
        """With TANDEMQ_SEND_REPLICAS: wait until that many replicas have the tasks
        (common/replication.py); NotReplicated when they did not confirm in time."""
        s = self.settings
        if s.send_replicas:
            b = self._broker
            await confirm_replicated(
                b.transport,
                b.keys,
                task_ids,
                queue,
                s.send_replicas,
                s.send_replicas_timeout_seconds,
            )

    async def get_task(self, task_id: str, queue: str = DEFAULT_QUEUE) -> TaskInfo | None:
        """The task's current state; for a finished task whose data expired, its tombstone
        (``forgotten=True``: state, type, time); None if there is no trace of it."""
        return await self._broker.get(queue, task_id)

    async def wait(
        self,
        task_id: str,
        queue: str = DEFAULT_QUEUE,
        timeout: timedelta | float | None = None,
    ) -> TaskInfo:
        """Wait until the task is completed, archived or canceled and return its TaskInfo
        (with ``result``). Woken by the script that finishes the task; re-reads it every
        couple of seconds in case a wake-up was missed. Raises WaitTimeout after
        ``timeout`` (seconds or timedelta; None: no limit), TaskNotFound if there is no
        such task (docs/RESULTS.md says when a finished one can no longer be found)."""
        budget, recheck = self._wait_budget(timeout)
        deadline = time.monotonic() + budget
        while True:
            if await self._broker.watch(queue, task_id) != WATCH_REGISTERED:
                info = self._waited(task_id, queue, await self._broker.get(queue, task_id))
                if info is not None:
                    return info
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(task_id, queue, budget)
            await self._broker.wait_signal(queue, task_id, min(left, recheck))

    async def cancel(self, task_id: str, queue: str = DEFAULT_QUEUE) -> CancelResult:
        """Cancel the task: ``"canceled"`` if it was waiting (pending, scheduled, retry) and
        is now canceled; ``"canceling"`` if it is running (its processor stops the handler
        within a moment and records it canceled; it is not retried); ``"finished"`` if it
        had already completed, been archived or canceled. Raises TaskNotFound."""
        reply = await self._broker.cancel(queue, task_id)
        return self._canceled(task_id, queue, reply)
