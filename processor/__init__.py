"""The working side of tandemq: ``Processor`` runs handlers for tasks from weighted queues."""

from tandemq.common.errors import RetryIn, SkipRetry
from tandemq.common.task import TaskInfo

from .cron import CronEntry
from .handlers import TaskContext
from .middleware import CallNext, Lifespan, Middleware
from .processor import Processor
from .retry import RetryDelay, default_retry_delay

__all__ = [
    "CallNext",
    "CronEntry",
    "Lifespan",
    "Middleware",
    "Processor",
    "RetryDelay",
    "RetryIn",
    "SkipRetry",
    "TaskContext",
    "TaskInfo",
    "default_retry_delay",
]
