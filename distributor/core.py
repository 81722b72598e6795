"""What the async Distributor and the SyncDistributor share, with no I/O: options to tasks,
payload encoding and checks, the TaskInfo a send returns, the chunks of send_many, and what
wait() makes of a task it read. The two clients differ only in how they talk to Redis."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal, cast

from pydantic import BaseModel

from tandemq.common.clock import from_ms, now_ms, span_ms, to_ms
from tandemq.common.errors import (
    InvalidSendOptions,
    OutcomeUnknown,
    PayloadTooLarge,
    TaskNotFound,
)
from tandemq.common.logging import get_logger
from tandemq.common.settings import Settings
from tandemq.common.task import FINAL_STATES, NewTask, TaskInfo, TaskState

from .encoding import encode, send_type_name
from .hooks import SendHook, run_hooks
from .options import SendOptions

CHUNK = 1000  # tasks per enqueue_many script call: short scripts, and overlap (see send_many)
CancelResult = Literal["canceled", "canceling", "finished"]
WAIT_RECHECK = 2.0  # wait() re-reads the task at least this often (seconds), woken or not


# URL-safe base64 with "." in place of "-": an id never starts with "-", which a command line
# (tandemq tasks show QUEUE ID) would take for an option.
_ID_CHARS = b"._"


def new_task_id() -> str:
    """128 random bits (as uuid4) in 22 URL-safe characters: ids are stored twice per task
    (key and list entry), so 10 characters fewer than hex is 20 bytes per task saved."""
    return base64.b64encode(os.urandom(16), _ID_CHARS)[:22].decode()


def new_task_ids(n: int) -> list[str]:
    """``n`` ids as new_task_id makes them, from one read of the random source."""
    raw = os.urandom(16 * n)
    encode = base64.b64encode
    return [encode(raw[i : i + 16], _ID_CHARS)[:22].decode() for i in range(0, 16 * n, 16)]


def _task_of_batch(shape: NewTask, task_id: str, type_: str, payload: bytes) -> NewTask:
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
        result_ttl_ms=shape.result_ttl_ms,
    )


def unknown_send(exc: OutcomeUnknown, task: NewTask) -> OutcomeUnknown:
    """A send's OutcomeUnknown naming its task and what to do (both Distributors raise it)."""
    return OutcomeUnknown(
        f"{exc}: task {task.id!r} may or may not be stored in queue {task.queue!r};"
        f" send it again with task_id={task.id!r} (safe: it is written at most once,"
        " and TaskIdConflict then means the first attempt had landed)",
        task.id,
        task.queue,
    )


def _ms(span: timedelta | None) -> int | None:
    return None if span is None else max(1, span_ms(span))


class DistributorCore:
    """Settings and the I/O-free steps of sending; Distributor and SyncDistributor add I/O."""

    def __init__(self, settings: Settings, send_hooks: Sequence[SendHook] = ()) -> None:
        self.settings = settings
        self._send_hooks = list(send_hooks)
        self._log = get_logger(__name__)

    def add_send_hook(self, hook: SendHook) -> None:
        """Run ``hook(outgoing)`` before every send; it may add ``outgoing.headers``."""
        self._send_hooks.append(hook)

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
                name = names[model] = send_type_name(model)
            data = encode(payload, name)
            if len(data) > limit:
                raise PayloadTooLarge(name, len(data), limit)
            out.append((name, data))
        return out

    def _new_task(
        self,
        payload: BaseModel,
        options: SendOptions,
        now: int | None = None,
        due: int = -1,
        headers: Mapping[str, str] | None = None,
    ) -> NewTask:
        """The task to write; send hooks run here (once per send, once per send_many)."""
        task = self._plain_task(payload, options, now, due)
        if headers or self._send_hooks:  # nothing to do, and nothing stored, without them
            task.headers = run_hooks(self._send_hooks, task.type, task.queue, headers)
        return task

    def build_task(
        self, payload: BaseModel, options: SendOptions, headers: Mapping[str, str] | None = None
    ) -> NewTask:
        """The task ``send`` would write (checked, encoded, send hooks run), not written: the
        transactional outbox (tandemq.outbox) stores it in a database row instead."""
        return self._new_task(payload, options, headers=headers)

    def _plain_task(
        self, payload: BaseModel, options: SendOptions, now: int | None, due: int
    ) -> NewTask:
        if not isinstance(payload, BaseModel):
            raise InvalidSendOptions(f"payload must be a pydantic model, got {type(payload)!r}")
        unique = options.unique_for
        name = send_type_name(type(payload))
        encoded = encode(payload, name)
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
            result_ttl_ms=_ms(options.result_ttl),
            unique_ttl_ms=_ms(unique) or 0,
            # A caller's own id may exist already (a conflict) or be this call's own write
            # whose reply was lost (the broker sends it again): the nonce tells them apart.
            nonce=new_task_id()[:8] if options.task_id else None,
        )

    def _sent(self, task: NewTask, info: TaskInfo) -> TaskInfo:
        """Log the send of ``task`` (written); returns ``info``."""
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
        return _trusted_info(
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
                "result": None,
                "result_ttl": _span(task.result_ttl_ms),
                "forgotten": False,
            }
        )

    def _plan_many(
        self,
        payloads: Sequence[BaseModel],
        options: SendOptions,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[Iterator[list[NewTask]], list[TaskInfo]]:
        """send_many's tasks chunk by chunk, and the list their infos fill as chunks are
        taken (the infos of chunk k are made after k is handed out, while Redis writes it).
        Every payload is checked before the first chunk exists: an error writes nothing."""
        now, due = now_ms(), options.due_ms()  # one moment for the batch: one shared header
        encoded = self._encode_all(payloads)
        infos: list[TaskInfo] = []
        if not encoded:
            return iter(()), infos
        # what all tasks share; hooks run once for the call: one shared header
        shape = self._new_task(payloads[0], options, now, due, headers)

        def chunks() -> Iterator[list[NewTask]]:
            for start in range(0, len(encoded), CHUNK):
                part = encoded[start : start + CHUNK]
                ids = new_task_ids(len(part))
                tasks = [_task_of_batch(shape, task_id, name, data) for task_id, (name, data) in zip(ids, part, strict=True)]  # fmt: skip
                yield tasks
                template = self._info(tasks[0], payloads[start])
                infos.extend(
                    _info_copy(template, id=t.id, type=t.type, payload=p.model_dump(mode="json"))
                    for t, p in zip(tasks, payloads[start : start + CHUNK], strict=True)
                )

        return chunks(), infos

    @staticmethod
    def _waited(task_id: str, queue: str, info: TaskInfo | None) -> TaskInfo | None:
        """What wait() returns for the task it read: the info when final, None to go on
        waiting; TaskNotFound when it is gone without a trace."""
        if info is None:
            raise TaskNotFound(task_id, queue)
        return info if info.state in FINAL_STATES else None

    def _canceled(self, task_id: str, queue: str, reply: str) -> CancelResult:
        """What cancel() returns for cancel.lua's reply; logs ``task.cancel``."""
        if reply == "not_found":
            raise TaskNotFound(task_id, queue)
        self._log.info("task.cancel", task_id=task_id, queue=queue, outcome=reply)
        return cast(CancelResult, reply)

    @staticmethod
    def _wait_budget(
        timeout: timedelta | float | None, cap: float = float("inf")
    ) -> tuple[float, float]:
        """(seconds wait() may take, at most; longest single block between re-reads, at
        most ``cap``)."""
        if isinstance(timeout, timedelta):
            timeout = timeout.total_seconds()
        if timeout is not None and timeout < 0:
            raise InvalidSendOptions(f"wait timeout must not be negative, got {timeout}")
        recheck = max(0.1, min(WAIT_RECHECK, cap))
        return (float("inf") if timeout is None else timeout), recheck


def _span(ms: int | None) -> timedelta | None:
    return None if ms is None else timedelta(milliseconds=ms)


def _info_copy(template: TaskInfo, **changes: Any) -> TaskInfo:
    """A copy of ``template`` with ``changes``, for send_many's thousands of infos."""
    values = template.__dict__.copy()
    values.update(changes)
    return _trusted_info(values)


_ALL_FIELDS = set(TaskInfo.model_fields)


def _trusted_info(values: dict[str, Any]) -> TaskInfo:
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
