"""structlog set-up, and the event names tandemq logs.

JSON lines in production, coloured key=value lines in a terminal (``TANDEMQ_LOG_FORMAT``).
Library code only calls ``get_logger``; ``configure`` is called by the daemon and the demo,
never on import, so an application keeps its own structlog configuration.

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
from typing import Any, Literal

import structlog
from structlog.typing import FilteringBoundLogger

from .errors import BrokerUnavailable

LogFormat = Literal["json", "console", "auto"]
_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}


def configure(fmt: LogFormat = "auto", level: str = "INFO") -> None:
    """Configure structlog process-wide: JSON lines or a readable console format."""
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if use_console:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    else:
        shared.append(structlog.processors.dict_tracebacks)
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def failure_event(exc: BaseException, failed: str) -> str:
    """The log event for a step that raised: ``redis.unavailable`` when Redis could not be
    reached, else ``failed`` (Redis refused the command, or a bug)."""
    return "redis.unavailable" if isinstance(exc, BrokerUnavailable) else failed


def get_logger(**bound: Any) -> FilteringBoundLogger:
    """The tandemq logger, with ``bound`` fields on every line."""
    logger: FilteringBoundLogger = structlog.get_logger("tandemq").bind(**bound)
    return logger
