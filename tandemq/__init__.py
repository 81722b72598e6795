"""tandemq: typed, weighted, reliable background jobs for asyncio on Redis.

The app side sends with :class:`Distributor`; the worker side runs handlers with
:class:`Processor`. Everything tandemq raises derives from :class:`TandemqError`.
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
    MainModuleType,
    OutcomeUnknown,
    PayloadNotEncodable,
    PayloadTooLarge,
    RedisAuthFailed,
    RedisOutOfMemory,
    RedisPermissionDenied,
    RedisRefused,
    RegistryError,
    RetryIn,
    SendError,
    SendManyIncomplete,
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
from tandemq.processor import Processor, RetryDelay, TaskContext, default_retry_delay

__version__ = "0.1.0"

__all__ = [
    "BrokerUnavailable",
    "ConfigError",
    "CorruptTask",
    "DeadlineExceeded",
    "Distributor",
    "DuplicateTask",
    "InvalidPayload",
    "InvalidSendOptions",
    "LeaseExpired",
    "MainModuleType",
    "OutcomeUnknown",
    "PayloadNotEncodable",
    "PayloadTooLarge",
    "Processor",
    "RedisAuthFailed",
    "RedisOutOfMemory",
    "RedisPermissionDenied",
    "RedisRefused",
    "RegistryError",
    "RetryDelay",
    "RetryIn",
    "SendError",
    "SendManyIncomplete",
    "SendOptions",
    "Settings",
    "SkipRetry",
    "TandemqError",
    "TaskContext",
    "TaskError",
    "TaskIdConflict",
    "TaskInfo",
    "TaskState",
    "TaskTimeout",
    "UnknownTaskType",
    "default_retry_delay",
    "type_name",
]
