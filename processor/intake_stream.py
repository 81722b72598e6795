"""Consumes a Redis stream that producers ``XADD`` to, in a consumer group
(processor.consume_stream): each entry becomes a task. An entry is always unread, pending in
the group, or a task:

1. XREADGROUP BLOCK delivers new entries to this consumer (they are pending in the group);
2. ``parse`` turns each entry's fields into a payload (a rejected one into an archived task);
3. intake_stream.lua writes the tasks and XACKs the entries in one step, skipping any entry
   no longer pending for this consumer (another consumer claimed it after our lease).

Entries left pending by a dead or stalled consumer are claimed with XAUTOCLAIM once idle for
a lease, by any live consumer of the group. A blocked XREADGROUP holds its connection, so each
consumed stream has one of the pool's connections to itself.
"""

from __future__ import annotations

from tandemq.common.broker import Broker
from tandemq.common.intake import IntakeStore, StreamEntry
from tandemq.common.logging import failure_event, get_logger

from .backoff import Backoff
from .intake import BATCH, IntakeSpec, stream_task

FORGET_AFTER_MS = 3_600_000  # a consumer with nothing pending, idle this long, is deleted


class IntakeStream:
    def __init__(self, broker: Broker, spec: IntakeSpec, consumer: str, lease_ms: int) -> None:
        assert spec.group is not None
        self._store = IntakeStore(broker)
        self._spec = spec
        self._group = spec.group
        self._consumer = consumer
        self._lease_ms = lease_ms
        self._block = 5.0
        self._own = True  # first read this consumer's own unacknowledged entries
        self._group_ready = False
        self._log = get_logger(__name__, component="intake", stream=spec.key, group=spec.group)

    async def run(self) -> None:
        backoff = Backoff()
        while True:
            try:
                await self._step()
                backoff.succeeded()
            except Exception as exc:  # unreachable or refused: back off; entries stay pending
                event = failure_event(exc, "intake.failed")
                self._log.error(
                    event, step="intake", error=str(exc) or repr(exc), retry_in=backoff.delay
                )
                self._own = True  # a read whose reply was lost delivered entries to us
                if "NOGROUP" in str(exc):
                    self._group_ready = False  # the stream or group was deleted: make it again
                await backoff.wait()

    async def _ensure_group(self) -> None:
        if not self._group_ready:
            await self._store.create_group(self._spec.key, self._group, self._spec.start_id)
            self._group_ready = True

    async def _step(self) -> None:
        await self._ensure_group()
        own = self._own
        entries = await self._store.read(
            self._spec.key, self._group, self._consumer, BATCH, self._block, own
        )
        if own and len(entries) < BATCH:
            self._own = False  # caught up with our own pending entries
        await self._write(entries)

    async def _write(self, entries: list[StreamEntry]) -> None:
        if not entries:
            return
        tasks = [(e.id, stream_task(self._spec, e)) for e in entries]
        backoff = Backoff()
        while True:
            try:
                written = await self._store.write_stream(
                    self._spec.key,
                    self._group,
                    self._consumer,
                    self._spec.queue,
                    self._spec.max_retry,
                    tasks,
                )
                break
            except Exception as exc:  # the entries stay pending for us meanwhile
                event = failure_event(exc, "intake.failed")
                self._log.error(event, step="intake.write", error=str(exc), retry_in=backoff.delay)
                await backoff.wait()
        for _, task in tasks:
            if task.error:
                self._log.warning("intake.rejected", task_id=task.id, error=task.error)
        if written < len(tasks):
            self._log.warning("intake.skipped", entries=len(tasks) - written)

    async def maintain(self) -> float:
        """Claim and write the entries other consumers left pending past a lease."""
        await self._ensure_group()
        claimed = await self._store.claim(
            self._spec.key, self._group, self._consumer, self._lease_ms, BATCH
        )
        if claimed:
            self._log.warning("intake.recovered", items=len(claimed))
            await self._write(claimed)
        await self._store.forget_idle_consumers(self._spec.key, self._group, FORGET_AFTER_MS)
        return 0.0 if len(claimed) >= BATCH else self._lease_ms / 1000 / 2

    async def close(self) -> None:
        """Nothing to give back: entries delivered to us and not written stay pending in the
        group, and another consumer claims them after a lease."""
