"""The sending side of tandemq: ``Distributor`` writes typed tasks to Redis."""

from tandemq.common.errors import (
    BrokerUnavailable,
    DuplicateTask,
    InvalidSendOptions,
    PayloadTooLarge,
    RedisOutOfMemory,
    SendError,
    TaskIdConflict,
)
from tandemq.common.task import TaskInfo, TaskState

from .client import Distributor
from .hooks import Outgoing, SendHook
from .options import SendOptions

__all__ = [
    "BrokerUnavailable",
    "Distributor",
    "DuplicateTask",
    "InvalidSendOptions",
    "Outgoing",
    "PayloadTooLarge",
    "RedisOutOfMemory",
    "SendError",
    "SendHook",
    "SendOptions",
    "TaskIdConflict",
    "TaskInfo",
    "TaskState",
]
