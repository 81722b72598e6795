"""Send options, validated once before any I/O."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

from tandemq.common.clock import now_ms, span_ms, to_ms
from tandemq.common.errors import InvalidSendOptions
from tandemq.common.keys import validate_queue_name

DEFAULT_QUEUE = "default"
DEFAULT_MAX_RETRY = 25  # as asynq
MAX_TASK_ID_LENGTH = 256
LATEST = datetime(9000, 1, 1, tzinfo=UTC)  # far from datetime.max, so stored times read back
_VALID_QUEUES: set[str] = set()  # names validate_queue_name accepted (a send checks once)


@dataclass(frozen=True, slots=True)
class SendOptions:
    """How and when a task runs. All durations are timedeltas; all moments aware datetimes."""

    queue: str = DEFAULT_QUEUE
    max_retry: int = DEFAULT_MAX_RETRY
    process_in: timedelta | None = None
    process_at: datetime | None = None
    timeout: timedelta | None = None
    deadline: datetime | None = None
    task_id: str | None = None
    retention: timedelta | None = None
    unique_for: timedelta | None = None
    result_ttl: timedelta | None = None  # None: DEFAULT_RESULT_TTL (docs/RESULTS.md)

    def __post_init__(self) -> None:
        if self.queue not in _VALID_QUEUES:
            try:
                validate_queue_name(self.queue)
            except ValueError as exc:
                raise InvalidSendOptions(str(exc)) from None
            if len(_VALID_QUEUES) < 10_000:
                _VALID_QUEUES.add(self.queue)
        if not isinstance(self.max_retry, int) or isinstance(self.max_retry, bool):
            raise InvalidSendOptions(f"max_retry must be an int >= 0, got {self.max_retry!r}")
        if self.max_retry < 0:
            raise InvalidSendOptions(f"max_retry must be an int >= 0, got {self.max_retry!r}")
        if self._only_defaults():
            return  # most sends: nothing else to check (the checks below cost 3 µs a send)
        self._check_optional()

    def _only_defaults(self) -> bool:
        """Every option past queue and max_retry left at None (an option added later is
        covered without being named here)."""
        return all(getattr(self, name) is None for name in _OPTIONAL)

    def _check_optional(self) -> None:
        if self.process_in is not None and self.process_at is not None:
            raise InvalidSendOptions("give process_in or process_at, not both")
        if self.process_in is not None and self.process_in < timedelta(0):
            raise InvalidSendOptions(f"process_in must not be negative, got {self.process_in}")
        for name in ("process_at", "deadline"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise InvalidSendOptions(f"{name} must be timezone-aware, got {moment.isoformat()}")
        for name in ("process_at", "deadline"):
            moment = getattr(self, name)
            if moment is not None and moment > LATEST:
                raise InvalidSendOptions(f"{name} must be before {LATEST:%Y}, got {moment}")
        if self.process_in is not None and self.process_in > LATEST - datetime.now(UTC):
            raise InvalidSendOptions(
                f"process_in must end before {LATEST:%Y}, got {self.process_in}"
            )
        for name in ("timeout", "retention", "unique_for", "result_ttl"):
            span = getattr(self, name)
            if span is not None and span <= timedelta(0):
                raise InvalidSendOptions(f"{name} must be positive, got {span}")
        if self.unique_for is not None and self.unique_for < timedelta(seconds=1):
            raise InvalidSendOptions(f"unique_for must be at least 1 second, got {self.unique_for}")
        if self.task_id is not None and not (0 < len(self.task_id) <= MAX_TASK_ID_LENGTH):
            raise InvalidSendOptions(f"task_id must be 1-{MAX_TASK_ID_LENGTH} characters long")
        if self.task_id is not None and not self.task_id.isprintable():
            # "\x1e" and "\x1f" separate the fields of an envelope and of packed arguments
            raise InvalidSendOptions(
                f"task_id must be printable (no control characters), got {self.task_id!r}"
            )

    def due_ms(self) -> int:
        """Epoch ms when the task may first run, or 0 for now."""
        if self.process_at is not None:
            due = to_ms(self.process_at)
        elif self.process_in is not None and self.process_in > timedelta(0):
            due = now_ms() + span_ms(self.process_in)
        else:
            return 0
        return due if due > now_ms() else 0


_OPTIONAL = tuple(f.name for f in fields(SendOptions) if f.name not in ("queue", "max_retry"))
