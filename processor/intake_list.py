"""Consumes a plain Redis list that producers ``LPUSH`` to (processor.consume_list): each item
becomes a task. An item is always in the list, in this consumer's processing list, or a task:

1. LMOVE takes up to BATCH of the oldest items into
   ``p:{list}:intake:<list>:processing:<consumer>``, or BLMOVE waits for one when the list is
   empty; the consumer's lease is renewed on the same connection first;
2. ``parse`` turns each item into a payload (a rejected one into an archived task);
3. intake_list.lua writes the tasks and empties the processing list in one step.

A consumer that dies leaves its processing list behind with an expiring lease; every consumer
of the list sweeps expired ones back into the list (intake_recover.lua). A blocked BLMOVE
holds its connection, so each consumed list has one of the pool's connections to itself.
"""

from __future__ import annotations

from tandemq.common.broker import Broker
from tandemq.common.intake import IntakeStore, IntakeTask
from tandemq.common.keys import intake_keys
from tandemq.common.logging import failure_event, get_logger

from .backoff import Backoff
from .intake import BATCH, IntakeSpec, list_task


class IntakeList:
    def __init__(self, broker: Broker, spec: IntakeSpec, consumer: str, lease_ms: int) -> None:
        self._store = IntakeStore(broker)
        self._spec = spec
        self._keys = intake_keys(broker.keys.prefix, spec.key)
        self._consumer = consumer
        self._lease_ms = lease_ms
        # Below the lease, so a move can only land while the lease it renewed still holds:
        # a sweep that finds the lease expired then finds the moved item too.
        self._block = min(5.0, lease_ms / 1000 / 3)
        self._want = 1  # items to move without waiting: grows while the list has a backlog
        self._log = get_logger(__name__, component="intake", list=spec.key, queue=spec.queue)

    async def run(self) -> None:
        backoff = Backoff()
        while True:
            try:
                await self._step()
                backoff.succeeded()
            except Exception as exc:  # unreachable or refused: back off; the items are safe
                event = failure_event(exc, "intake.failed")
                self._log.error(
                    event, step="intake", error=str(exc) or repr(exc), retry_in=backoff.delay
                )
                await backoff.wait()
                await self._release_quietly()  # a move whose reply was lost left items with us

    async def _step(self) -> None:
        want = self._want
        raw = await self._store.move(self._keys, self._consumer, self._lease_ms, self._block, want)
        # Grow the batch while the list keeps filling it; after a wait start from one item, so
        # a lone item is not followed by a hundred empty moves while its task is fetched.
        self._want = min(BATCH, want * 8) if len(raw) == want else 1
        if raw:
            await self._write([list_task(self._spec, item) for item in raw])

    async def _write(self, tasks: list[IntakeTask]) -> None:
        """Write until it lands: the items wait in the processing list meanwhile."""
        backoff = Backoff()
        while True:
            try:
                written = await self._store.write_list(
                    self._keys, self._consumer, self._spec.queue, self._spec.max_retry, tasks
                )
                break
            except Exception as exc:
                event = failure_event(exc, "intake.failed")
                self._log.error(event, step="intake.write", error=str(exc), retry_in=backoff.delay)
                await backoff.wait()
        if written == 0:  # swept back to the list while we stalled, or a resend: give back
            self._log.warning("intake.given_back", items=len(tasks))
            await self._release_quietly()
            return
        for task in tasks:
            if task.error:
                self._log.warning("intake.rejected", task_id=task.id, error=task.error)
        self._log.debug("intake.written", count=written)

    async def maintain(self) -> float:
        """Give the items of consumers whose lease expired back to the list."""
        consumers, items = await self._store.recover_list(self._keys)
        if items:
            self._log.warning("intake.recovered", consumers=consumers, items=items)
        return self._lease_ms / 1000 / 2

    async def close(self) -> None:
        """After run() is cancelled: a move may have landed without its reply reaching us,
        so whatever this consumer's processing list holds goes back to the list."""
        await self._release_quietly()

    async def _release_quietly(self) -> None:
        try:
            _, items = await self._store.recover_list(self._keys, self._consumer)
        except Exception as exc:  # the sweep of another consumer will do it after our lease
            self._log.error("intake.release_failed", error=str(exc) or repr(exc))
            return
        if items:
            self._log.info("intake.released", items=items)
