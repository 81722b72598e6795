"""tandemq's logging: structlog events that go through the standard ``logging`` module.

As a library, tandemq follows Python's convention: every event is a ``logging`` record on a
logger under ``tandemq`` (``tandemq.distributor.core``, ``tandemq.processor.fetcher``, ...),
so the host application's logging configuration decides what shows and where;
``logging.getLogger("tandemq").setLevel(logging.WARNING)``, a WARNING root logger or
``logging.disable`` silence it. A record's message is ``event key=value ...``; the event name
and fields are also on the record (``record.tandemq_event``, ``record.tandemq_fields``) for
structured handlers. A level the logger would drop is dropped before anything is formatted.

``configure`` is for programs that own the process, the daemon and the demo (never called
on import): it puts one handler on the root logger that writes JSON lines or coloured
key=value lines (``TANDEMQ_LOG_FORMAT``), for tandemq's events, the application's own
``logging`` records and structlog events alike.

Events (every task event carries task_id, type, queue, attempt):

| event | level | when |
|---|---|---|
| task.enqueued | info | send() wrote a task (also max_retry, process_at) |
| task.started | info | a handler is called |
| task.succeeded | info | the handler returned (ms) |
| task.retry | warning | the handler failed; retried later (ms, delay_ms, error) |
| task.archived | error | failed for good: retries spent, SkipRetry, or bad input (ms, error) |
| task.lease_lost | warning | a running task's lease was taken over (processor stalled) |
| task.requeued | info | shutdown put an unfinished task back to pending |
| task.missing | debug | a dequeued id had no task data (deleted underneath) |
| tasks.vanished | error | task data gone under pending ids (eviction?): once per minute, counts per queue |
| task.recovered | warning | expired leases moved back to retry/archive (count) |
| task.forwarded | debug | scheduled/retry tasks moved to pending (count) |
| processor.started / processor.stopping / processor.stopped | info | lifecycle |
| redis.unavailable | error | a component step failed on Redis; it backs off and tries again |
| task.cancelled | warning | a handler cancelled through Running (its lease was lost: reason) |
| task.deferred | warning | a task of a type this processor lacks, put back uncounted (due_ms) |
| task.orphan_returned | warning | a task marked active without a lease, back to pending |
| loop.blocked | warning | the event loop lagged over 1 s (lag_s, running: ids and types) |
| loop.leases_renewed | warning | the lease keeper thread renewed leases for a blocked loop |
| loop.hung | error | blocked past TANDEMQ_MAX_LOOP_BLOCK_SECONDS: renewal stopped |
| redis.eviction_possible | warning | Redis' maxmemory-policy may evict (policy, detail) |
| redis.policy_unknown | warning | INFO refused: the eviction policy was not checked |
| processor.config_error | error | start refused: login, ACL, eviction policy (the daemon exits 2) |
| queue.paused / queue.unpaused | info | this processor noticed an operator's pause / unpause (queue) |
| processor.leave_failed | warning | at shutdown, the last counts or the heartbeat record could not be written |
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, Literal

import structlog
from structlog.typing import EventDict, WrappedLogger

from .errors import BrokerUnavailable

LogFormat = Literal["json", "console", "auto"]
ROOT = "tandemq"
_LEVELS = {"debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40, "exception": 40,
           "critical": 50, "fatal": 50}  # fmt: skip


class Logger(structlog.stdlib.BoundLogger):
    """structlog's stdlib logger that asks the logging module first whether the level is
    wanted: a dropped event (every send's ``task.enqueued`` in most apps) costs a method call."""

    def _proxy_to_logger(
        self, method_name: str, event: str | None = None, *event_args: Any, **event_kw: Any
    ) -> Any:
        if not self._logger.isEnabledFor(_LEVELS.get(method_name, 0)):
            return None
        return super()._proxy_to_logger(method_name, event, *event_args, **event_kw)


def get_logger(name: str = ROOT, **bound: Any) -> Logger:
    """A logger for ``name`` (a module's ``__name__``, under ``tandemq``) with ``bound``
    fields on every event. Independent of the application's structlog configuration."""
    logger: Logger = structlog.wrap_logger(
        logging.getLogger(name),
        processors=[structlog.contextvars.merge_contextvars, _as_record],
        wrapper_class=Logger,
        context_class=dict,
        cache_logger_on_first_use=True,
    )
    return logger.bind(**bound)


def failure_event(exc: BaseException, failed: str) -> str:
    """The log event for a step that raised: ``redis.unavailable`` when Redis could not be
    reached, else ``failed`` (Redis refused the command, or a bug)."""
    return "redis.unavailable" if isinstance(exc, BrokerUnavailable) else failed


def _as_record(
    logger: WrappedLogger, method: str, event_dict: EventDict
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The last processor: the arguments of the ``logging`` call. The message reads well in
    a plain handler; the event and fields ride along for structured ones."""
    kwargs: dict[str, Any] = {}
    for key in ("exc_info", "stack_info"):
        if key in event_dict:
            kwargs[key] = event_dict.pop(key)
    event = str(event_dict.pop("event", ""))
    text = " ".join([event, *(f"{k}={v}" for k, v in event_dict.items())])
    kwargs["extra"] = {"tandemq_event": event, "tandemq_fields": event_dict}
    return (text,), kwargs


def _from_record(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """For ``configure``'s handler: a record tandemq made becomes its event and fields again
    (a record of any other logging user keeps its message as the event)."""
    record = event_dict.get("_record")
    fields: Mapping[str, Any] | None = getattr(record, "tandemq_fields", None)
    if record is not None and fields is not None:
        event_dict["event"] = record.tandemq_event
        event_dict.update(fields)
    return event_dict


def _logger_name(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    record = event_dict.get("_record")
    if record is not None and record.name != "root":
        event_dict.setdefault("logger", record.name)
    return event_dict


def configure(fmt: LogFormat = "auto", level: str = "INFO") -> None:
    """Log to stderr process-wide, as JSON lines or a readable console format."""
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if use_console:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    else:
        shared.append(structlog.processors.dict_tracebacks)
        renderer = structlog.processors.JSONRenderer()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[_from_record, _logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "tandemq", False)]:
        root.removeHandler(old)  # configured again (tests, a reload): one handler, not two
    handler.tandemq = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The application's own structlog events take the same way out.
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
