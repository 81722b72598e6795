"""What the distributor and the processor share: the task model, errors, settings, storage."""

from .errors import (
    BrokerUnavailable,
    ConfigError,
    CorruptTask,
    DeadlineExceeded,
    DuplicateTask,
    InvalidPayload,
    InvalidSendOptions,
    LeaseExpired,
    PayloadTooLarge,
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
from .registry import type_name
from .settings import Settings
from .task import TaskInfo, TaskState

__all__ = [
    "BrokerUnavailable",
    "ConfigError",
    "CorruptTask",
    "DeadlineExceeded",
    "DuplicateTask",
    "InvalidPayload",
    "InvalidSendOptions",
    "LeaseExpired",
    "PayloadTooLarge",
    "RegistryError",
    "RetryIn",
    "SendError",
    "Settings",
    "SkipRetry",
    "TandemqError",
    "TaskError",
    "TaskIdConflict",
    "TaskInfo",
    "TaskState",
    "TaskTimeout",
    "UnknownTaskType",
    "type_name",
]
