"""The processor's side of task storage, mixed into Broker: the lease lifecycle in Redis.
Taking pending tasks under a lease (dequeue), ending a lease (ack, retry, archive, defer,
requeue, reclaim), keeping it (extend), and the periodic components' sweeps: due scheduled and
retry tasks to pending (forward), expired leases and dead takes given back (recover,
recover_takes), old finished tasks deleted (trim). A lease lost is answered, never raised.
Which leases one processor holds, in memory, is processor/leases.py's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .calls import BATCH, ScriptCalls
from .clock import now_ms
from .keys import Keys
from .ratelimit import RateLimit
from .task import DEQUEUE_FIELDS, TaskMessage
from .task_hash import messages_from_rows, text
from .transport import Call, Transport


class LeaseStore(ScriptCalls):
    """Lease scripts under one key prefix, sent through the broker's transport."""

    keys: Keys
    transport: Transport

    async def _call(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return await self.transport.call(name, keys, args)

    async def _call_many(self, calls: Sequence[Call], resend: bool = True) -> list[Any]:
        return await self.transport.call_many(calls, resend)

    async def dequeue(
        self,
        counts: dict[str, int],
        owner: str,
        lease_ms: int,
        rates: Mapping[str, RateLimit] | None = None,
    ) -> tuple[dict[str, list[TaskMessage]], list[tuple[str, str]]]:
        """Lease up to ``counts[q]`` pending tasks of each queue, in one round trip.

        Returns the tasks taken per queue, and (queue, id) of ids whose data was missing.
        Not sent again when the connection fails under it (BrokerUnavailable instead): if the
        script had run, its tasks are leased to ``owner`` yet held by no one; ``reclaim``
        gives them back to pending, so they neither wait for their lease to expire nor have
        that counted as a failed attempt. See dequeue_limited for ``rates``.
        """
        taken, missing, _ = await self.dequeue_limited(counts, owner, lease_ms, rates or {})
        return taken, missing

    async def dequeue_limited(
        self, counts: dict[str, int], owner: str, lease_ms: int, rates: Mapping[str, RateLimit]
    ) -> tuple[dict[str, list[TaskMessage]], list[tuple[str, str]], dict[str, int]]:
        """dequeue, where a queue in ``rates`` gives no more tasks than its limit allows (in
        the same script, across all processors); the third result maps each queue held back
        by its limit to the ms until its next task is allowed."""
        wanted = [(q, n) for q, n in counts.items() if n > 0]
        now = now_ms()
        calls: list[Call] = []
        for queue, n in wanted:
            qk = self.keys.queue(queue)
            keys: tuple[str, ...] = (qk.pending, qk.active, qk.archived)
            args: tuple[Any, ...] = (n, now + lease_ms, owner, qk.task_prefix, now)
            rate = rates.get(queue)
            if rate is not None:
                keys += (self.keys.rate(queue),)
                args += (f"{rate.interval_ms:.6f}", f"{rate.tolerance_ms:.6f}")
            calls.append(("dequeue", keys, args))
        taken: dict[str, list[TaskMessage]] = {}
        missing: list[tuple[str, str]] = []
        waits: dict[str, int] = {}
        width = 1 + len(DEQUEUE_FIELDS)
        results = await self._call_many(calls, resend=False)
        for (queue, _), reply in zip(wanted, results, strict=True):
            flat = reply
            if len(reply) % width:  # held back by its rate limit: the wait comes last
                waits[queue] = int(reply[-1])
                flat = reply[:-1]
            taken[queue], gone = messages_from_rows(queue, flat)
            missing += [(queue, task_id) for task_id in gone]
        return taken, missing, waits

    async def ack(
        self,
        owner: str,
        done: dict[str, list[str]],
        results: dict[str, list[tuple[str, bytes]]] | None = None,
    ) -> list[tuple[str, str]]:
        """Acknowledge finished tasks, per queue, in one round trip; ``results`` (queue ->
        (id, JSON)) are those whose handler returned a value (ack_result.lua stores it).
        Returns (queue, id) whose lease was lost."""
        now = now_ms()
        calls: list[Call] = []
        queues = [q for q, ids in done.items() if ids]
        for queue in queues:
            qk = self.keys.queue(queue)
            calls.append(
                ("ack", (qk.active, qk.completed), (owner, now, qk.task_prefix, *done[queue]))
            )
        for queue, pairs in (results or {}).items():
            for call in self._ack_result_calls(queue, owner, now, pairs):
                calls.append(call)
                queues.append(queue)
        replies = await self._call_many(calls) if calls else []
        return [(q, text(i)) for q, lost in zip(queues, replies, strict=True) for i in lost]

    async def retry(self, queue: str, task_id: str, owner: str, due_ms: int, error: str) -> bool:
        """Move a failed task to retry; False if its lease was lost."""
        qk = self.keys.queue(queue)
        keys = (qk.active, qk.retry, qk.task(task_id), qk.canceled)
        retry: Call = ("retry", keys, (owner, task_id, now_ms(), due_ms, error))
        return bool((await self._call_many([retry, self._mark_due_call([queue])]))[0])

    async def archive(self, queue: str, task_id: str, owner: str, error: str) -> bool:
        """Archive a task; False if its lease was lost."""
        qk = self.keys.queue(queue)
        keys = (qk.active, qk.archived, qk.task(task_id))
        return bool(await self._call("archive", keys, (owner, task_id, now_ms(), error)))

    async def requeue(self, owner: str, held: dict[str, list[str]]) -> int:
        """Give held tasks back to the front of pending, uncounted; returns how many."""
        calls: list[Call] = []
        for queue, ids in held.items():
            if ids:
                qk = self.keys.queue(queue)
                args = (owner, qk.task_prefix, self.keys.wake_channel, queue, *ids)
                calls.append(("requeue", (qk.active, qk.pending), args))
        return sum(await self._call_many(calls)) if calls else 0

    async def reclaim(self, queues: Sequence[str], owner: str, held: dict[str, list[str]]) -> int:
        """Give back to pending, uncounted, the tasks leased to ``owner`` that it does not
        hold (a dequeue whose reply was lost); returns how many."""
        calls: list[Call] = []
        now = now_ms()
        for queue in queues:
            qk = self.keys.queue(queue)
            args = (owner, qk.task_prefix, self.keys.wake_channel, queue, now, *held.get(queue, ()))
            calls.append(("reclaim", (qk.active, qk.pending), args))
        return sum(await self._call_many(calls)) if calls else 0

    async def extend(
        self, owner: str, held: dict[str, list[str]], lease_ms: int
    ) -> list[tuple[str, str]]:
        """Extend leases of running tasks; returns (queue, id) no longer leased to ``owner``."""
        deadline = now_ms() + lease_ms
        queues = [q for q, ids in held.items() if ids]
        calls: list[Call] = []
        for queue in queues:
            qk = self.keys.queue(queue)
            calls.append(("extend", (qk.active,), (owner, deadline, qk.task_prefix, *held[queue])))
        if not calls:
            return []
        calls.append(self._mark_call(self.keys.leased, "GT", now_ms(), queues))
        results = (await self._call_many(calls))[:-1]
        return [(q, text(i)) for q, lost in zip(queues, results, strict=True) for i in lost]

    async def forward(self, queues: Sequence[str]) -> int | None:
        """Move due scheduled and retry tasks to pending; returns the next due time (ms) or None."""
        left = [due for due in (await self.forward_each(queues)).values() if due is not None]
        return min(left) if left else None

    async def forward_each(self, queues: Sequence[str]) -> dict[str, int | None]:
        """forward, with the next due time (ms) of each queue, None when it has none."""
        now = now_ms()
        pending = list(queues)
        earliest: dict[tuple[str, int], int] = {}  # (queue, set) -> its earliest due left
        while pending:
            calls: list[Call] = []
            for queue in pending:
                qk = self.keys.queue(queue)
                args = (now, BATCH, qk.task_prefix, self.keys.wake_channel, queue)
                calls.append(("forward", (qk.scheduled, qk.pending), args))
                calls.append(("forward", (qk.retry, qk.pending), args))
            results = await self._call_many(calls)
            full = set()
            for i, (moved, first) in enumerate(results):
                if moved == BATCH:
                    full.add(pending[i // 2])
                earliest[(pending[i // 2], i % 2)] = int(float(first))  # the latest round's
            pending = [q for q in pending if q in full]
        each: dict[str, int | None] = dict.fromkeys(queues)
        for (queue, _), due in earliest.items():
            current = each[queue]
            if due >= 0 and (current is None or due < current):
                each[queue] = due
        return each

    async def recover(self, queues: Sequence[str], error: str) -> tuple[list[str], list[str]]:
        """Take back tasks with expired leases; returns (ids to retry, ids archived)."""
        now = now_ms()
        calls: list[Call] = []
        for queue in queues:
            qk = self.keys.queue(queue)
            keys = (qk.active, qk.retry, qk.archived, qk.canceled)
            calls.append(("recover", keys, (now, BATCH, qk.task_prefix, error)))
        retried: list[str] = []
        archived: list[str] = []
        to_forward: list[str] = []
        replies = await self._call_many(calls)
        for queue, (to_retry, to_archive, *_canceled) in zip(queues, replies, strict=True):
            retried += [text(i) for i in to_retry]
            archived += [text(i) for i in to_archive]
            if to_retry:
                to_forward.append(queue)
        if to_forward:  # due now in the retry set: the forwarder finds them through p:due
            await self._call_many([self._mark_due_call(to_forward)])
        return retried, archived

    async def recover_takes(self, queues: Sequence[str]) -> int:
        """Give back to pending what blocking takes of dead processors moved and never leased
        (see common/take.py); returns how many ids."""
        now = now_ms()
        calls: list[Call] = []
        for queue in queues:
            qk = self.keys.queue(queue)
            args = (now, qk.taking_prefix, self.keys.wake_channel, queue)
            calls.append(("take_recover", (qk.takers, qk.pending), args))
        return sum(await self._call_many(calls)) if calls else 0

    async def trim(
        self, queues: Sequence[str], archive_max_size: int, archive_max_age_ms: int
    ) -> int:
        """Delete expired completed and canceled tasks and archived tasks past the limits,
        each leaving a tombstone (trim.lua); returns count."""
        now = now_ms()
        calls = [self._trim_call(q, now, archive_max_size, archive_max_age_ms) for q in queues]
        return sum(await self._call_many(calls))

    async def defer(self, queue: str, task_id: str, owner: str, due_ms: int) -> bool:
        """Put a leased task back, due at ``due_ms``, uncounted; False if its lease was lost."""
        qk = self.keys.queue(queue)
        keys = (qk.active, qk.scheduled, qk.task(task_id))
        defer: Call = ("defer", keys, (owner, task_id, due_ms))
        return bool((await self._call_many([defer, self._mark_due_call([queue])]))[0])
