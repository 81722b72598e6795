"""tandemq: typed, weighted, reliable background jobs for asyncio on Redis.

The app side sends with :class:`Distributor`; the worker side runs handlers with
:class:`Processor`; operators see and act on queues with :class:`Inspector` (or the
``tandemq`` command). Everything tandemq raises derives from :class:`TandemqError`.
"""

from tandemq.common.errors import (
    BrokerUnavailable,
    ConfigError,
    CorruptTask,
    DeadlineExceeded,
    DuplicateTask,
    InvalidPayload,
    InvalidSendOptions,
    LeaseExpired,
    PayloadTooLarge,
    RedisOutOfMemory,
    RegistryError,
    RetryIn,
    SendError,
    SkipRetry,
    TandemqError,
    TaskError,
    TaskIdConflict,
    TaskTimeout,
    UnknownTaskType,
)
from tandemq.common.registry import type_name
from tandemq.common.settings import Settings
from tandemq.common.task import TaskInfo, TaskState
from tandemq.distributor import Distributor, SendOptions
from tandemq.inspector import (
    InspectError,
    Inspector,
    InvalidRequest,
    QueueNotEmpty,
    QueueNotFound,
    TaskNotFound,
    TaskStateError,
)
from tandemq.processor import Processor, RetryDelay, TaskContext, default_retry_delay

__version__ = "0.1.0"

__all__ = [
    "BrokerUnavailable",
    "ConfigError",
    "CorruptTask",
    "DeadlineExceeded",
    "Distributor",
    "DuplicateTask",
    "InspectError",
    "Inspector",
    "InvalidPayload",
    "InvalidRequest",
    "InvalidSendOptions",
    "LeaseExpired",
    "PayloadTooLarge",
    "Processor",
    "QueueNotEmpty",
    "QueueNotFound",
    "RedisOutOfMemory",
    "RegistryError",
    "RetryDelay",
    "RetryIn",
    "SendError",
    "SendOptions",
    "Settings",
    "SkipRetry",
    "TandemqError",
    "TaskContext",
    "TaskError",
    "TaskIdConflict",
    "TaskInfo",
    "TaskNotFound",
    "TaskState",
    "TaskStateError",
    "TaskTimeout",
    "UnknownTaskType",
    "default_retry_delay",
    "type_name",
]
