"""The sending side of tandemq: ``Distributor`` writes typed tasks to Redis."""

from tandemq.common.errors import (
    BrokerUnavailable,
    DuplicateTask,
    InvalidSendOptions,
    PayloadTooLarge,
    RedisOutOfMemory,
    SendError,
    TaskIdConflict,
    TaskNotFound,
    WaitTimeout,
)
from tandemq.common.task import TaskInfo, TaskState

from .client import Distributor
from .core import CancelResult
from .hooks import Outgoing, SendHook
from .options import SendOptions
from .sync import SyncDistributor

__all__ = [
    "BrokerUnavailable",
    "CancelResult",
    "Distributor",
    "DuplicateTask",
    "InvalidSendOptions",
    "Outgoing",
    "PayloadTooLarge",
    "RedisOutOfMemory",
    "SendError",
    "SendHook",
    "SendOptions",
    "SyncDistributor",
    "TaskIdConflict",
    "TaskInfo",
    "TaskNotFound",
    "TaskState",
    "WaitTimeout",
]
