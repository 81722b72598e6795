"""An idle processor takes a task with a blocking move and leases it in the script queued
behind the move (common/take.py). A real processor SIGKILLed between the two must not lose
the task: it comes back from the dead processor's taking list and runs once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess

import pytest
from redis.asyncio import Redis

from tandemq.common.clock import now_ms
from tandemq.common.registry import type_name
from tandemq.common.task import Field, NewTask
from tandemq.common.task_hash import hash_fields
from tandemq.distributor.client import new_task_id
from tests.apps import Work
from tests.faults.harness import Scenario, scenario
from tests.support import eventually

ENV = {"TANDEMQ_LEASE_SECONDS": "3", "TANDEMQ_POLL_INTERVAL_SECONDS": "1"}

# Blocking takes run on the pipelining connection: none where TANDEMQ_WIRE=off.
pytestmark = pytest.mark.skipif(
    os.environ.get("TANDEMQ_WIRE", "on").lower() in ("off", "0", "false", "no"),
    reason="no pipelining connection (TANDEMQ_WIRE=off)",
)


async def _write_pending(client: Redis, run: Scenario, work: Work) -> str:
    """A pending task written with plain commands (no script: the scripts are flushed)."""
    task = NewTask(new_task_id(), "default", type_name(Work), work.model_dump_json().encode(),
                   max_retry=3, enqueued_ms=now_ms())  # fmt: skip
    fields = [Field.TYPE, task.type, Field.PAYLOAD, task.payload, *hash_fields(task)]
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(run.queue.task(task.id), items=fields)
        pipe.lpush(run.queue.pending, task.id)
        await pipe.execute()
    return task.id


async def _move_without_lease(client: Redis, run: Scenario, victim: subprocess.Popen[bytes]) -> str:
    """Stop ``victim`` while its blocking move is parked, with the scripts flushed, then push
    a task: the move takes it and the take script behind it fails (NOSCRIPT), and the
    stopped process cannot load it again. Returns the task's id, left in the taking list."""
    for _ in range(5):  # the parked move may time out between the stop and the push: again
        await eventually(lambda: client.zcard(run.queue.takers), lambda n: n == 1, timeout=30)
        await client.script_flush()
        victim.send_signal(signal.SIGSTOP)
        task_id = await _write_pending(client, run, Work(n=1))
        owner = (await client.zrange(run.queue.takers, 0, -1))[0].decode()
        taking = run.queue.taking(owner)
        with contextlib.suppress(AssertionError):  # not moved within the parked wait
            moved = await eventually(lambda k=taking: client.lrange(k, 0, -1), bool, timeout=1.5)
            if moved == [task_id.encode()]:
                return task_id
        await client.delete(run.queue.pending, run.queue.task(task_id))
        victim.send_signal(signal.SIGCONT)
    raise AssertionError("the victim's blocking move never took the task")


async def test_task_taken_by_a_processor_killed_before_its_lease_runs_once() -> None:
    async with scenario() as (run, client, _):
        victim = run.start_processor(**ENV)
        await run.ready(victim)
        task_id = await _move_without_lease(client, run, victim)
        victim.send_signal(signal.SIGKILL)
        await asyncio.to_thread(victim.wait, 10)
        assert await client.zscore(run.queue.active, task_id) is None  # never leased
        assert await client.lpos(run.queue.pending, task_id) is None  # nor pending

        rescuer = run.start_processor(**ENV)
        await run.ready(rescuer)
        done = await eventually(
            lambda: client.hgetall(f"{run.prefix}:ledger"), bool, timeout=30, every=0.1
        )
        assert done == {task_id.encode(): b"1"}, run.logs()
        assert await client.keys(run.queue.taking_prefix + "*") == []
        rescuer.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(rescuer.wait, 30) == 0, run.logs()
