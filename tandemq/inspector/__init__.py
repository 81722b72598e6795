"""See and operate tandemq: queue sizes and histories, tasks by state, run / archive / delete
one task or a whole state, pause queues, live processors. The CLI and the dashboard call it.

    async with Inspector.from_env() as inspector:
        for stats in await inspector.queues():
            print(stats.queue, stats.pending, stats.paused)
"""

from tandemq.common.cron_registry import CronEntryInfo
from tandemq.common.errors import (
    InspectError,
    InvalidRequest,
    QueueNotEmpty,
    QueueNotFound,
    TaskNotFound,
    TaskStateError,
)
from tandemq.common.presence import ProcessorInfo, RunningTask

from ._actions import Progress
from ._cron_cancel import schedule_and_tz
from .client import Inspector
from .models import (
    Action,
    BulkResult,
    HistoryPoint,
    QueueHistory,
    QueueStats,
    TaskDetail,
    TaskPage,
    TaskSummary,
    queues_payload,
)

__all__ = [
    "Action",
    "BulkResult",
    "CronEntryInfo",
    "HistoryPoint",
    "InspectError",
    "Inspector",
    "InvalidRequest",
    "ProcessorInfo",
    "Progress",
    "QueueHistory",
    "QueueNotEmpty",
    "QueueNotFound",
    "QueueStats",
    "RunningTask",
    "TaskDetail",
    "TaskNotFound",
    "TaskPage",
    "TaskStateError",
    "TaskSummary",
    "queues_payload",
    "schedule_and_tz",
]
