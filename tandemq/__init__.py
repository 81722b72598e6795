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
    InvalidResult,
    InvalidSendOptions,
    LeaseExpired,
    MainModuleType,
    NotReplicated,
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
    TaskCanceled,
    TaskError,
    TaskIdConflict,
    TaskNotFound,
    TaskTimeout,
    UnknownTaskType,
    WaitTimeout,
)
from tandemq.common.registry import type_name
from tandemq.common.settings import Settings
from tandemq.common.task import TaskInfo, TaskState
from tandemq.distributor import CancelResult, Distributor, SendOptions, SyncDistributor
from tandemq.inspector import (
    InspectError,
    Inspector,
    InvalidRequest,
    QueueNotEmpty,
    QueueNotFound,
    TaskStateError,
)
from tandemq.processor import Processor, RetryDelay, TaskContext, default_retry_delay

__version__ = "0.1.0"

__all__ = [
    "BrokerUnavailable",
    "CancelResult",
    "ConfigError",
    "CorruptTask",
    "DeadlineExceeded",
    "Distributor",
    "DuplicateTask",
    "InspectError",
    "Inspector",
    "InvalidPayload",
    "InvalidRequest",
    "InvalidResult",
    "InvalidSendOptions",
    "LeaseExpired",
    "MainModuleType",
    "NotReplicated",
    "OutcomeUnknown",
    "PayloadNotEncodable",
    "PayloadTooLarge",
    "Processor",
    "QueueNotEmpty",
    "QueueNotFound",
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
    "SyncDistributor",
    "TandemqError",
    "TaskCanceled",
    "TaskContext",
    "TaskError",
    "TaskIdConflict",
    "TaskInfo",
    "TaskNotFound",
    "TaskState",
    "TaskStateError",
    "TaskTimeout",
    "UnknownTaskType",
    "WaitTimeout",
    "default_retry_delay",
    "type_name",
]
