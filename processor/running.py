"""The handlers running now, by task: what ``loop.blocked`` names, and the one way to cancel the
handler of a given task (its lease was lost; or, for task cancellation, a user asked).

A cancelled handler gets ``CancelledError`` at its current ``await``; the runner sees that the
cancellation came from here (``revoked``), writes no outcome and goes on with its next task.
A plain ``def`` handler running in a thread cannot be interrupted: its result is dropped.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass(slots=True)
class RunningHandler:
    queue: str
    task_id: str
    type: str
    worker: asyncio.Task[object]
    started: float  # time.monotonic()
    revoked: str | None = None  # why it was cancelled from here, if it was


class Running:
    """Task (queue, id) -> the worker coroutine running its handler."""

    def __init__(self) -> None:
        self._by_task: dict[tuple[str, str], RunningHandler] = {}

    def __len__(self) -> int:
        return len(self._by_task)

    def enter(self, queue: str, task_id: str, type_: str) -> RunningHandler:
        """Called by the worker itself just before it calls the handler."""
        worker = asyncio.current_task()
        assert worker is not None, "enter() runs inside a worker task"
        entry = RunningHandler(queue, task_id, type_, worker, time.monotonic())
        self._by_task[(queue, task_id)] = entry
        return entry

    def leave(self, entry: RunningHandler) -> None:
        """The handler returned or raised: it can no longer be cancelled from here."""
        if self._by_task.get((entry.queue, entry.task_id)) is entry:
            del self._by_task[(entry.queue, entry.task_id)]

    def cancel(self, queue: str, task_id: str, reason: str) -> bool:
        """Cancel the handler running task ``task_id`` of ``queue``; False if none runs it.

        The runner writes no outcome for it: the caller decides what becomes of the task
        (after a lost lease, nothing: another processor owns it now)."""
        entry = self._by_task.pop((queue, task_id), None)
        if entry is None:
            return False
        entry.revoked = reason
        entry.worker.cancel(f"tandemq: {reason}")
        return True

    def snapshot(self) -> list[dict[str, object]]:
        """Running handlers as plain records (safe to read from another thread: the copy of
        the values is one C-level operation under the GIL)."""
        now = time.monotonic()
        return [
            {
                "task_id": e.task_id,
                "type": e.type,
                "queue": e.queue,
                "running_s": round(now - e.started, 1),
            }
            for e in list(self._by_task.values())
        ]
