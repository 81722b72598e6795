"""The sending side of tandemq: ``Distributor`` writes typed tasks to Redis."""

from common.errors import (
    BrokerUnavailable,
    DuplicateTask,
    InvalidSendOptions,
    PayloadTooLarge,
    RedisOutOfMemory,
    SendError,
    TaskIdConflict,
)
from common.task import TaskInfo, TaskState

from .client import Distributor
from .options import SendOptions

__all__ = [
    "BrokerUnavailable",
    "Distributor",
    "DuplicateTask",
    "InvalidSendOptions",
    "PayloadTooLarge",
    "RedisOutOfMemory",
    "SendError",
    "SendOptions",
    "TaskIdConflict",
    "TaskInfo",
    "TaskState",
]
