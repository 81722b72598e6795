"""Errors tandemq raises, as a tree you can catch at any level::

    TandemqError
     ├── ConfigError              a setting or environment variable has a bad value
     │    ├── RedisAuthFailed     Redis refused the credentials (wrong password or user)
     │    └── RedisPermissionDenied  the Redis user may not run a command tandemq needs (ACL)
     ├── RegistryError            a payload type or handler registered twice, or not a model
     ├── BrokerUnavailable        Redis could not be reached (after the configured retries);
     │    │                       the operation did not happen
     │    ├── RedisOutOfMemory    Redis refused a write at its maxmemory limit
     │    ├── OutcomeUnknown      Redis failed after the write may have run: it may have
     │    │    │                  happened; resending with the same task_id is safe
     │    │    └── NotReplicated  written, but fewer replicas confirmed it than asked
     │    └── SendManyIncomplete  send_many failed part-way: the ids written and not written
     ├── RedisRefused             Redis answered a command with an error (WRONGTYPE, READONLY, ...)
     ├── ScriptError              a Lua script failed inside Redis (names its .lua file:line)
     ├── SendError                send() refused the task; nothing was written
     │    ├── InvalidSendOptions  options that contradict or are out of range (also a ValueError)
     │    ├── TaskIdConflict      a task with this task_id already exists in the queue
     │    ├── DuplicateTask       an equal task is still locked by unique_for
     │    ├── PayloadTooLarge     the encoded payload is over TANDEMQ_MAX_PAYLOAD_BYTES
     │    ├── PayloadNotEncodable the payload cannot be written as JSON (e.g. non-UTF-8 bytes)
     │    └── MainModuleType      the payload model lives in __main__: its type name would
     │                            not match the processor's
     ├── InspectError             an operator's request (Inspector, CLI) cannot be done
     │    ├── QueueNotFound       no queue of that name is known
     │    ├── TaskStateError      the task's (or state's) tasks do not allow the action
     │    ├── InvalidRequest      an unknown state or action, a bad limit (also a ValueError)
     │    └── QueueNotEmpty       delete_queue without force on a queue that holds tasks
     ├── TaskNotFound             wait(), cancel() or an operator named a task that is not there
     ├── WaitTimeout              wait() gave up before the task finished (also a TimeoutError)
     └── TaskError                why a task failed, as recorded in its last_error
          ├── UnknownTaskType     no handler is registered for the task's type
          ├── InvalidPayload      the payload failed validation against the handler's model
          ├── CorruptTask         the task data in Redis could not be decoded
          ├── TaskTimeout         the handler ran past its timeout and was cancelled
          ├── DeadlineExceeded    the task's deadline passed before or while it ran
          ├── LeaseExpired        the processor running it died or stalled past its lease
          ├── TaskCanceled        cancel() stopped the task while its handler ran
          └── InvalidResult       the handler returned a value that cannot be stored as JSON

Handlers control retries with two exceptions that are not errors of tandemq itself:
``SkipRetry`` archives the task at once, ``RetryIn(delay)`` retries after ``delay``.
"""

from __future__ import annotations

from datetime import timedelta


class TandemqError(Exception):
    """Base of every error tandemq raises."""


class ConfigError(TandemqError):
    """A setting has a bad value; the message names the environment variable."""


class RegistryError(TandemqError):
    """A payload type or handler was registered twice, or is not a pydantic model."""


class BrokerUnavailable(TandemqError):
    """Redis could not be reached; the operation did not happen (but see the subclass
    OutcomeUnknown: raised when it may have)."""


class RedisOutOfMemory(BrokerUnavailable):
    """Redis refused a write at its maxmemory limit (noeviction); the operation did not happen."""


class ScriptError(TandemqError):
    """A tandemq Lua script raised inside Redis: a bug in the script, or keys it reads were
    changed by something other than tandemq. The message names the ``.lua`` file and line;
    report it with that line."""


class SendError(TandemqError):
    """send() refused the task; nothing was written."""


class InvalidSendOptions(SendError, ValueError):
    """Send options out of range or contradicting each other."""


class TaskIdConflict(SendError):
    """A task with this id already exists in the queue."""

    def __init__(self, task_id: str, queue: str) -> None:
        super().__init__(f"task id {task_id!r} already exists in queue {queue!r}")
        self.task_id = task_id
        self.queue = queue


class DuplicateTask(SendError):
    """An equal task (type, payload, queue) is still held by its unique_for lock."""

    def __init__(self, type_name: str, queue: str, holder: str | None) -> None:
        super().__init__(
            f"duplicate {type_name} in queue {queue!r}: task {holder!r} holds its unique lock"
        )
        self.type_name = type_name
        self.queue = queue
        self.holder = holder


class PayloadTooLarge(SendError):
    """The encoded payload is larger than the configured limit."""

    def __init__(self, type_name: str, size: int, limit: int) -> None:
        super().__init__(
            f"{type_name} payload is {size} bytes, over the limit of {limit}"
            " (TANDEMQ_MAX_PAYLOAD_BYTES); store large data elsewhere and send a reference"
        )
        self.size = size
        self.limit = limit


# -- issue 10: errors that say exactly what happened ---------------------------------------


class RedisAuthFailed(ConfigError):
    """Redis refused the credentials in REDIS_URL (wrong password, unknown user)."""


class RedisPermissionDenied(ConfigError):
    """The Redis user lacks an ACL permission tandemq needs; the message names the command."""


class RedisRefused(TandemqError):
    """Redis answered a command with an error (WRONGTYPE on a damaged key, READONLY on a
    replica, ...): the command did not run."""


class OutcomeUnknown(BrokerUnavailable):
    """The connection failed after the write may have reached Redis: it may or may not have
    happened. Sending again with the same ``task_id`` is safe: the task is written at most
    once, and a ``TaskIdConflict`` then says the first attempt had landed."""

    def __init__(self, message: str, task_id: str | None = None, queue: str | None = None) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.queue = queue


class SendManyIncomplete(BrokerUnavailable):
    """send_many failed part-way. ``written`` ids are stored, ``not_written`` are not (send
    their payloads again), ``unknown`` may be either (the connection failed while they were
    sent)."""

    def __init__(
        self, cause: BaseException, written: list[str], not_written: list[str], unknown: list[str]
    ) -> None:
        super().__init__(
            f"send_many stopped part-way ({cause}): {len(written)} tasks written,"
            f" {len(not_written)} not written, {len(unknown)} unknown; the ids are on this"
            " error (.written, .not_written, .unknown)"
        )
        self.written = written
        self.not_written = not_written
        self.unknown = unknown


class PayloadNotEncodable(SendError, ValueError):
    """The payload cannot be written as JSON (non-UTF-8 bytes, a value pydantic cannot dump)."""


class MainModuleType(SendError):
    """The payload model is defined in ``__main__``: its type name would not match the one
    the processor registers for the same model imported from a module."""


class InspectError(TandemqError):
    """An operator's request (Inspector, CLI, dashboard) cannot be done."""


class QueueNotFound(InspectError):
    def __init__(self, queue: str) -> None:
        super().__init__(f"no queue named {queue!r}; `tandemq queues` lists the known ones")
        self.queue = queue


class TaskStateError(InspectError):
    """The action is not possible in the task's state (say, deleting an active task)."""


class InvalidRequest(InspectError, ValueError):
    """An unknown state or action name, or a limit, offset or chunk out of range."""


class QueueNotEmpty(InspectError):
    def __init__(self, queue: str, size: int) -> None:
        super().__init__(
            f"queue {queue!r} still holds {size} tasks; delete them first or pass force=True"
            " (CLI: --force) to delete the queue with everything in it"
        )
        self.queue = queue
        self.size = size


class TaskError(TandemqError):
    """Why a task failed, in the words kept in its last_error."""


class UnknownTaskType(TaskError):
    """No handler is registered for the task's type."""


class InvalidPayload(TaskError):
    """The payload failed validation against the handler's model."""


class CorruptTask(TaskError):
    """The task data in Redis could not be decoded."""


class TaskTimeout(TaskError):
    """The handler ran past its timeout and was cancelled."""


class DeadlineExceeded(TaskError):
    """The task's deadline passed."""


class LeaseExpired(TaskError):
    """The processor holding the task stopped renewing its lease."""


class TaskCanceled(TaskError):
    """cancel() stopped the task while its handler ran; it is not retried."""


class InvalidResult(TaskError):
    """The handler's return value cannot be stored: not JSON-able, or over the size limit."""


class TaskNotFound(TandemqError):
    """No task with this id in the queue: it never existed, or it finished and was deleted."""

    def __init__(self, task_id: str, queue: str) -> None:
        super().__init__(
            f"no task {task_id!r} in queue {queue!r}: it never existed, or it finished without"
            " a result, retention or waiter and was deleted (send it with retention=... to keep"
            " it; see docs/RESULTS.md)"
        )
        self.task_id = task_id
        self.queue = queue


class WaitTimeout(TandemqError, TimeoutError):
    """wait() returned before the task reached a final state; the task goes on."""

    def __init__(self, task_id: str, queue: str, timeout: float) -> None:
        super().__init__(
            f"task {task_id!r} in queue {queue!r} did not finish within {timeout:g}s;"
            " it still runs or waits: call wait() again or raise the timeout"
        )
        self.task_id = task_id
        self.queue = queue


# -- issue 14: replication -----------------------------------------------------------------


class NotReplicated(OutcomeUnknown):
    """TANDEMQ_SEND_REPLICAS: the primary wrote the tasks, but fewer replicas than asked
    confirmed them in time, so a failover now could lose them. Sending them again with the
    same task ids is safe (a TaskIdConflict then means they are stored and confirmed)."""

    def __init__(self, task_ids: list[str], queue: str, confirmed: int, wanted: int) -> None:
        shown = ", ".join(repr(i) for i in task_ids[:3]) + (" ..." if len(task_ids) > 3 else "")
        super().__init__(
            f"{len(task_ids)} task(s) ({shown}) in queue {queue!r} written on the Redis primary"
            f" but confirmed by {confirmed} of the {wanted} replicas asked"
            " (TANDEMQ_SEND_REPLICAS) in time: a failover now could lose them; send them"
            " again with the same task_id (safe: written at most once)",
            task_ids[0] if len(task_ids) == 1 else None,
            queue,
        )
        self.task_ids = task_ids
        self.confirmed = confirmed


class SkipRetry(Exception):
    """Raised by a handler: archive the task now, whatever retries are left."""


class RetryIn(Exception):
    """Raised by a handler: retry after ``delay`` instead of the retry_delay policy."""

    def __init__(self, delay: timedelta, reason: str = "") -> None:
        super().__init__(reason or f"retry requested in {delay.total_seconds():g}s")
        self.delay = delay
