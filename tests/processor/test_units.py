"""The processor's parts on their own, without Redis: slots, leases, the fetcher's batch and
queue selection, and the outcome's ack / retry / archive decision. The broker is a stand-in
that serves tasks from lists and records the writes (its Redis side is tested elsewhere)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, cast

import pytest

from tandemq.common.broker import Broker
from tandemq.common.clock import now_ms
from tandemq.common.errors import BrokerUnavailable, RetryIn, SkipRetry
from tandemq.common.task import TaskInfo, TaskMessage, TaskState
from tandemq.processor.fetcher import Fetcher
from tandemq.processor.leases import Leases
from tandemq.processor.outcome import Outcome
from tandemq.processor.slots import Slots
from tandemq.processor.syncer import Syncer


def message(queue: str, task_id: str, retried: int = 0, max_retry: int = 3) -> TaskMessage:
    return TaskMessage(
        id=task_id, queue=queue, type="t.T", payload=b'{"a": 1}', retried=retried,
        max_retry=max_retry, timeout_ms=5000, deadline_ms=None, enqueued_ms=now_ms(),
    )  # fmt: skip


class StandInBroker:
    """Serves ``pending`` on dequeue (``missing``: ids whose data is gone) and records every
    outcome write; ``down`` makes every write fail as an unreachable Redis does. Each test
    makes one fetch, within which a queue that came back short must not be asked again."""

    def __init__(self, pending: dict[str, int], missing: dict[str, int] | None = None) -> None:
        self.pending = {q: [f"{q}-{i}" for i in range(n)] for q, n in pending.items()}
        self.missing = dict(missing or {})
        self.asked: list[dict[str, int]] = []
        self.short: set[str] = set()
        self.writes: list[tuple[Any, ...]] = []
        self.down = False

    async def dequeue(
        self, counts: dict[str, int], owner: str, lease_ms: int
    ) -> tuple[dict[str, list[TaskMessage]], list[tuple[str, str]]]:
        assert not self.short & set(counts), f"asked {counts} after {self.short} came back short"
        self.asked.append(dict(counts))
        taken: dict[str, list[TaskMessage]] = {}
        gone: list[tuple[str, str]] = []
        for queue, asked in counts.items():
            for _ in range(min(asked, self.missing.get(queue, 0))):
                self.missing[queue] -= 1
                gone.append((queue, "gone"))
            n = asked - sum(1 for q, _ in gone if q == queue)
            ids, self.pending[queue] = self.pending[queue][:n], self.pending[queue][n:]
            taken[queue] = [message(queue, i) for i in ids]
            if len(ids) < n:
                self.short.add(queue)
        return taken, gone

    async def dequeue_limited(
        self, counts: dict[str, int], owner: str, lease_ms: int, rates: object
    ) -> tuple[dict[str, list[TaskMessage]], list[tuple[str, str]], dict[str, int]]:
        taken, gone = await self.dequeue(counts, owner, lease_ms)
        return taken, gone, {}  # no rate limits here

    async def _write(self, *write: Any) -> bool:
        if self.down:
            raise BrokerUnavailable("Redis unreachable: stand-in")
        self.writes.append(write)
        return True

    async def ack(
        self, owner: str, done: dict[str, list[str]], results: object = None
    ) -> list[tuple[str, str]]:
        await self._write("ack", {q: sorted(ids) for q, ids in done.items()})
        return []

    async def retry(self, queue: str, task_id: str, owner: str, due_ms: int, error: str) -> bool:
        return await self._write("retry", task_id, due_ms)

    async def archive(self, queue: str, task_id: str, owner: str, error: str) -> bool:
        return await self._write("archive", task_id, error.splitlines()[-1])


def fetcher(broker: StandInBroker, queues: dict[str, int], strict: bool = False) -> Fetcher:
    return Fetcher(
        broker=cast(Broker, broker), owner="me", queues=queues, strict=strict,
        slots=Slots(10), leases=Leases(), out=asyncio.Queue(), wake=asyncio.Event(),
        lease_ms=30_000, poll_interval=1.0,
    )  # fmt: skip


# -- slots and leases -------------------------------------------------------------------------


async def test_slots_count_taken_tasks_and_wake_a_waiter_when_one_frees() -> None:
    slots = Slots(2)
    slots.take(2)
    assert slots.free() == 0
    waiter = asyncio.create_task(slots.wait_free())
    idle = asyncio.create_task(slots.wait_idle())
    await asyncio.sleep(0)
    assert not waiter.done() and not idle.done()
    slots.finish()
    assert await asyncio.wait_for(waiter, 5) == 1
    assert not idle.done()  # one is still busy
    slots.finish()
    await asyncio.wait_for(idle, 5)


def test_leases_are_held_per_queue_until_released() -> None:
    leases = Leases()
    leases.hold([message("a", "1"), message("a", "2"), message("b", "3")])
    assert {q: sorted(ids) for q, ids in leases.held().items()} == {"a": ["1", "2"], "b": ["3"]}
    leases.release("a", "1")
    leases.release("b", "3")
    leases.release("b", "never-held")  # a lease found lost twice is not an error
    assert leases.held() == {"a": ["2"]} and len(leases) == 1


# -- the fetcher's batch ----------------------------------------------------------------------


async def test_a_short_queue_is_left_out_and_its_slots_drawn_among_the_others() -> None:
    for _ in range(20):  # the draw is random: many fetches, each a fresh stand-in
        broker = StandInBroker({"a": 1, "b": 20})
        f = fetcher(broker, {"a": 1, "b": 1})
        assert await f.fetch(8) == 8  # "a" gives 1, its other slots go to "b"
        assert all(sum(ask.values()) <= 8 for ask in broker.asked)
    handed = [f._out.get_nowait() for _ in range(f._out.qsize())]
    assert len(handed) == 8 and f._slots.busy == 8 and len(f._leases) == 8


async def test_a_fetch_ends_when_every_queue_is_empty() -> None:
    broker = StandInBroker({"a": 0, "b": 2})
    f = fetcher(broker, {"a": 3, "b": 1})
    assert await f.fetch(5) == 2
    assert f._slots.busy == 2


async def test_missing_ids_count_as_served_so_the_queue_is_asked_again() -> None:
    """A queue that filled its count partly with ids whose data was gone is not empty."""
    broker = StandInBroker({"a": 10}, missing={"a": 2})
    f = fetcher(broker, {"a": 1})
    assert await f.fetch(5) == 5
    assert broker.asked == [{"a": 5}, {"a": 2}]


async def test_strict_takes_from_the_first_queue_then_the_next() -> None:
    broker = StandInBroker({"high": 2, "low": 9})
    f = fetcher(broker, {"high": 1, "low": 1}, strict=True)
    assert await f.fetch(5) == 5
    assert broker.asked == [{"high": 5}, {"low": 3}]


# -- the outcome's decision -------------------------------------------------------------------


def outcome(broker: StandInBroker, leases: Leases) -> tuple[Outcome, Syncer]:
    syncer = Syncer()
    delays: list[TaskInfo] = []

    def retry_delay(retried: int, exc: BaseException, task: TaskInfo) -> timedelta:
        delays.append(task)
        assert task.state is TaskState.ACTIVE and task.payload == {"a": 1}
        return timedelta(seconds=7)

    made = Outcome(
        broker=cast(Broker, broker), owner="me", leases=leases, syncer=syncer,
        retry_delay=retry_delay,
    )  # fmt: skip
    return made, syncer


async def test_successes_are_acked_together_and_their_leases_released() -> None:
    broker, leases = StandInBroker({}), Leases()
    tasks = [message("a", "1"), message("a", "2"), message("b", "3")]
    leases.hold(tasks)
    out, _ = outcome(broker, leases)
    for task in tasks:
        out.succeeded(task, 1.0)
    await out.flush_acks()
    assert broker.writes == [("ack", {"a": ["1", "2"], "b": ["3"]})]
    assert leases.held() == {} and out.pending() == 0


@pytest.mark.parametrize(
    ("retried", "error", "expected"),
    [
        (0, RuntimeError("boom"), "retry"),
        (3, RuntimeError("boom"), "archive"),  # max_retry 3: retries spent
        (0, SkipRetry("no"), "archive"),
        (0, RetryIn(timedelta(seconds=90)), "retry"),
    ],
)
async def test_a_failure_is_retried_or_archived(
    retried: int, error: BaseException, expected: str
) -> None:
    broker, leases = StandInBroker({}), Leases()
    task = message("a", "1", retried=retried, max_retry=3)
    leases.hold([task])
    out, _ = outcome(broker, leases)
    before = now_ms()
    await out.failed(task, error, 1.0)
    [write] = broker.writes
    assert write[0] == expected and write[1] == "1"
    if expected == "retry":
        delay_ms = 90_000 if isinstance(error, RetryIn) else 7_000
        assert before + delay_ms <= write[2] <= now_ms() + delay_ms
    assert leases.held() == {}


async def test_a_write_redis_refuses_goes_to_the_syncer_and_the_lease_stays_held() -> None:
    broker, leases = StandInBroker({}), Leases()
    task = message("a", "1")
    leases.hold([task])
    out, syncer = outcome(broker, leases)
    broker.down = True
    await out.failed(task, RuntimeError("boom"), 1.0)
    assert len(syncer) == 1 and leases.held() == {"a": ["1"]}  # still renewed meanwhile
    broker.down = False
    await syncer.flush()
    assert broker.writes[0][0] == "retry" and leases.held() == {}
