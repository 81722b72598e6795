"""The Distributor: the client an application sends tasks with. No background loops."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.clock import from_ms, now_ms, span_ms, to_ms
from tandemq.common.connection import create_redis
from tandemq.common.errors import InvalidSendOptions, PayloadTooLarge, TaskIdConflict
from tandemq.common.keys import Keys
from tandemq.common.logging import get_logger
from tandemq.common.registry import type_name
from tandemq.common.settings import Settings
from tandemq.common.task import NewTask, TaskInfo, TaskState

from .hooks import SendHook, run_hooks
from .options import DEFAULT_MAX_RETRY, DEFAULT_QUEUE, SendOptions

_CHUNK = 1000  # tasks per enqueue_many script call: short scripts, and overlap (see send_many)


def new_task_id() -> str:
    """128 random bits (as uuid4) in 22 URL-safe characters: ids are stored twice per task
    (key and list entry), so 10 characters fewer than hex is 20 bytes per task saved."""
    return base64.urlsafe_b64encode(os.urandom(16))[:22].decode()


def new_task_ids(n: int) -> list[str]:
    """``n`` ids as new_task_id makes them, from one read of the random source."""
    raw = os.urandom(16 * n)
    encode = base64.urlsafe_b64encode
    return [encode(raw[i : i + 16])[:22].decode() for i in range(0, 16 * n, 16)]


def _alike(shape: NewTask, task_id: str, type_: str, payload: bytes) -> NewTask:
    """A task of send_many: ``shape``'s options with its own id, type and payload."""
    return NewTask(
        task_id,
        shape.queue,
        type_,
        payload,
        shape.max_retry,
        shape.enqueued_ms,
        shape.due_ms,
        shape.timeout_ms,
        shape.deadline_ms,
        shape.retention_ms,
        headers=shape.headers,
    )


def _ms(span: timedelta | None) -> int | None:
    return None if span is None else max(1, span_ms(span))


class Distributor:
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
        self.settings = settings or Settings.load(env=False, redis_url=redis_url, prefix=prefix)
        self._send_hooks = list(send_hooks)
        self._owns_redis = redis is None
        s = self.settings
        self.redis = (
            redis if redis is not None else create_redis(s.redis_url, retries=s.redis_retries)
        )
        self._broker = Broker(self.redis, Keys(s.prefix), timeout=s.redis_timeout_seconds)
        self._log = get_logger()

    @classmethod
    def from_env(cls, *, send_hooks: Sequence[SendHook] = (), **overrides: Any) -> Distributor:
        """Settings from the environment (REDIS_URL, TANDEMQ_PREFIX); keywords override."""
        return cls(settings=Settings.load(**overrides), send_hooks=send_hooks)

    def add_send_hook(self, hook: SendHook) -> None:
        """Run ``hook(outgoing)`` before every send; it may add ``outgoing.headers``."""
        self._send_hooks.append(hook)

    async def __aenter__(self) -> Self:
        await self._broker.load_scripts()
        return self

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
        )
        task = self._new_task(payload, options)
        if headers or self._send_hooks:  # nothing to do, and nothing stored, without them
            task.headers = run_hooks(self._send_hooks, task.type, task.queue, headers)
        try:
            await self._broker.enqueue(task)
        except TaskIdConflict:
            if task_id is not None:
                raise
            # A generated id cannot collide: the client retried a send whose reply was lost
            # on a dropped connection, and the first attempt had written the task. (A caller's
            # own id carries a nonce for that case: see enqueue.lua.)
        return self._sent(task, payload)

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
        headers: Mapping[str, str] | None = None,
    ) -> list[TaskInfo]:
        """Write many tasks with the same options in pipelined round trips (ids are generated).

        One ``task.enqueued_many`` log line is written instead of one per task.
        """
        options = SendOptions(
            queue, max_retry, process_in, process_at, timeout, deadline, None, retention
        )
        now, due = now_ms(), options.due_ms()  # one moment for the batch: one shared header
        encoded = self._encode_all(payloads)  # every check before any write
        if not encoded:
            return []
        shape = self._new_task(payloads[0], options, now, due)  # what all tasks share
        if headers or self._send_hooks:  # hooks run once for the call: one shared header
            shape.headers = run_hooks(self._send_hooks, shape.type, queue, headers)
        infos: list[TaskInfo] = []

        def chunks() -> Iterator[list[NewTask]]:
            # The broker writes chunk k and asks for k+1 while Redis runs k: the tasks of k+1
            # and the infos of k are made in that time.
            for start in range(0, len(encoded), _CHUNK):
                part = encoded[start : start + _CHUNK]
                ids = new_task_ids(len(part))
                tasks = [_alike(shape, task_id, name, data) for task_id, (name, data) in zip(ids, part, strict=True)]  # fmt: skip
                yield tasks
                template = self._info(tasks[0], payloads[start])
                infos.extend(
                    _like(template, id=t.id, type=t.type, payload=p.model_dump(mode="json"))
                    for t, p in zip(tasks, payloads[start : start + _CHUNK], strict=True)
                )

        # Ids are generated here, so an id that already existed was written by an earlier
        # attempt of this same call whose reply was lost (a retried round trip): not an error.
        await self._broker.enqueue_chunks(chunks())
        self._log.info("task.enqueued_many", queue=queue, count=len(infos))
        return infos

    def _encode_all(self, payloads: Sequence[BaseModel]) -> list[tuple[str, bytes]]:
        """(type name, JSON) of each payload, with the per-type work done once; raises
        InvalidSendOptions or PayloadTooLarge."""
        names: dict[type[BaseModel], str] = {}
        limit = self.settings.max_payload_bytes
        out = []
        for payload in payloads:
            model = type(payload)
            name = names.get(model)
            if name is None:
                if not isinstance(payload, BaseModel):
                    raise InvalidSendOptions(
                        f"payload must be a pydantic model, got {type(payload)!r}"
                    )
                name = names[model] = type_name(model)
            data = model.__pydantic_serializer__.to_json(payload)
            if len(data) > limit:
                raise PayloadTooLarge(name, len(data), limit)
            out.append((name, data))
        return out

    async def get_task(self, task_id: str, queue: str = DEFAULT_QUEUE) -> TaskInfo | None:
        """The task's current state, or None if it does not exist (any more)."""
        return await self._broker.get(queue, task_id)

    def _new_task(
        self, payload: BaseModel, options: SendOptions, now: int | None = None, due: int = -1
    ) -> NewTask:
        if not isinstance(payload, BaseModel):
            raise InvalidSendOptions(f"payload must be a pydantic model, got {type(payload)!r}")
        unique = options.unique_for
        name = type_name(type(payload))
        encoded = payload.__pydantic_serializer__.to_json(payload)
        if len(encoded) > self.settings.max_payload_bytes:
            raise PayloadTooLarge(name, len(encoded), self.settings.max_payload_bytes)
        return NewTask(
            id=options.task_id or new_task_id(),
            queue=options.queue,
            type=name,
            payload=encoded,
            max_retry=options.max_retry,
            enqueued_ms=now_ms() if now is None else now,
            due_ms=options.due_ms() if due < 0 else due,
            timeout_ms=_ms(options.timeout),
            deadline_ms=None if options.deadline is None else to_ms(options.deadline),
            retention_ms=_ms(options.retention),
            unique_ttl_ms=_ms(unique) or 0,
            # A caller's own id may exist already (a conflict) or be this call's own write
            # whose reply was lost (the broker sends it again): the nonce tells them apart.
            nonce=new_task_id()[:8] if options.task_id else None,
        )

    def _sent(self, task: NewTask, payload: BaseModel) -> TaskInfo:
        info = self._info(task, payload)
        self._log.info(
            "task.enqueued",
            task_id=task.id,
            type=task.type,
            queue=task.queue,
            max_retry=task.max_retry,
            process_at=info.next_process_at.isoformat() if info.next_process_at else None,
        )
        return info

    @staticmethod
    def _info(task: NewTask, payload: BaseModel) -> TaskInfo:
        return _built(
            {
                "id": task.id,
                "type": task.type,
                "queue": task.queue,
                "state": TaskState.SCHEDULED if task.due_ms else TaskState.PENDING,
                "payload": payload.model_dump(mode="json"),
                "retried": 0,
                "max_retry": task.max_retry,
                "last_error": None,
                "enqueued_at": from_ms(task.enqueued_ms),
                "next_process_at": from_ms(task.due_ms) if task.due_ms else None,
                "completed_at": None,
                "failed_at": None,
                "timeout": _span(task.timeout_ms),
                "deadline": from_ms(task.deadline_ms) if task.deadline_ms else None,
                "retention": _span(task.retention_ms),
            }
        )


def _span(ms: int | None) -> timedelta | None:
    return None if ms is None else timedelta(milliseconds=ms)


def _like(template: TaskInfo, **changes: Any) -> TaskInfo:
    """A copy of ``template`` with ``changes``, for send_many's thousands of infos."""
    values = template.__dict__.copy()
    values.update(changes)
    return _built(values)


_ALL_FIELDS = set(TaskInfo.model_fields)


def _built(values: dict[str, Any]) -> TaskInfo:
    """A TaskInfo from values this process just built or validated, as pydantic's own
    ``model_construct`` makes one minus its per-field loop, which cost more than the rest of
    ``send`` together. ``values`` must name every field (frozen model: nothing changes later).
    """
    info = TaskInfo.__new__(TaskInfo)
    object.__setattr__(info, "__dict__", values)
    object.__setattr__(info, "__pydantic_fields_set__", _ALL_FIELDS)
    object.__setattr__(info, "__pydantic_extra__", None)
    object.__setattr__(info, "__pydantic_private__", None)
    return info
