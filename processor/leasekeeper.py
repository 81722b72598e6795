"""Keeps leases alive from outside the event loop while the loop is blocked.

A handler that blocks the loop (``time.sleep`` or CPU work inside ``async def``) stops the
heartbeat too: its leases, and those of every other task of the processor, would expire and
the tasks run a second time elsewhere while the first run goes on. A small thread watches a
tick the loop writes every ``TICK`` seconds:

- the loop late by more than ``BLOCKED_AFTER`` (1 s): ``loop.blocked`` is logged once per
  stall, with the tasks whose handlers are running (the user learns which one blocks);
- the loop late by a third of a lease: the thread renews the held leases itself, over a
  connection of its own;
- the loop late by more than ``max_block`` (TANDEMQ_MAX_LOOP_BLOCK_SECONDS, default three
  leases): the process is taken as hung, ``loop.hung`` is logged and renewal stops, so its
  tasks expire and come back to run elsewhere.

Leases the thread finds lost are handed to the loop (``on_lost``), which cancels their
handlers once it runs again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.exceptions import NoScriptError, RedisError

from tandemq.common.clock import now_ms
from tandemq.common.errors import TandemqError
from tandemq.common.keys import Keys
from tandemq.common.logging import get_logger
from tandemq.common.scripts import SCRIPTS

from .leases import Leases
from .running import Running

TICK = 0.25  # how often the loop proves it runs
BLOCKED_AFTER = 1.0  # loop lag (s) that is logged as loop.blocked


class LeaseKeeper:
    def __init__(
        self,
        *,
        connect: Callable[[], redis.Redis],
        keys: Keys,
        owner: str,
        leases: Leases,
        running: Running,
        lease_ms: int,
        max_block: float,
        on_lost: Callable[[list[tuple[str, str]]], None],
    ) -> None:
        self._connect = connect  # a blocking client, as the processor's own (TLS, Sentinel)
        self._keys = keys
        self._owner = owner
        self._leases = leases
        self._running = running
        self._lease_ms = lease_ms
        self._max_block = max_block
        self._on_lost = on_lost
        self._alive = time.monotonic()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._log = get_logger(__name__, component="leasekeeper")

    async def tick(self) -> None:
        """The loop's side: prove every TICK that the loop runs (and own the thread)."""
        self._loop = asyncio.get_running_loop()
        self._alive = time.monotonic()
        self._thread = threading.Thread(target=self._watch, name="tandemq-leasekeeper", daemon=True)
        self._thread.start()
        try:
            while True:
                self._alive = time.monotonic()
                await asyncio.sleep(TICK)
        finally:
            self._stopping.set()

    # -- the thread's side ----------------------------------------------------------------

    def _watch(self) -> None:
        client: redis.Redis | None = None
        renewed = logged = hung = False
        last_renewal = time.monotonic()
        try:
            while not self._stopping.wait(TICK):
                lag = time.monotonic() - self._alive
                if lag < BLOCKED_AFTER:
                    renewed = logged = hung = False
                    continue
                if not logged:
                    logged = True
                    self._log.warning(
                        "loop.blocked", lag_s=round(lag, 1), running=self._running.snapshot()
                    )
                if lag > self._max_block:
                    if not hung:
                        hung = True
                        self._log.error(
                            "loop.hung",
                            lag_s=round(lag, 1),
                            max_block_s=self._max_block,
                            running=self._running.snapshot(),
                            detail="lease renewal stopped: the tasks will run elsewhere",
                        )
                    continue
                due = not renewed or time.monotonic() - last_renewal >= self._lease_ms / 3000
                if lag >= self._lease_ms / 3000 and due:
                    client = client or self._client()
                    if client is None:
                        continue  # no server answered: try again next tick
                    self._renew(client)
                    renewed, last_renewal = True, time.monotonic()
        finally:
            if client is not None:
                client.close()

    def _client(self) -> redis.Redis | None:
        """A new blocking client, or None when none could be made: a cluster client asks
        its nodes for the slot map as it is built, and raises when none answers. The thread
        must outlive that: it is the only renewal while the loop is stuck."""
        try:
            return self._connect()
        except (RedisError, TandemqError) as exc:
            self._log.error("leasekeeper.failed", error=str(exc))
            return None

    def _renew(self, client: redis.Redis) -> None:
        held = self._held()
        lost: list[tuple[str, str]] = []
        deadline = now_ms() + self._lease_ms
        try:
            for queue, ids in held.items():
                qk = self._keys.queue(queue)
                args: list[Any] = [self._owner, deadline, qk.task_prefix, *ids]
                lost += [(queue, _text(i)) for i in _extend(client, qk.active, args)]
        except RedisError as exc:
            self._log.error("leasekeeper.failed", error=str(exc))
            return
        self._log.warning("loop.leases_renewed", tasks=sum(map(len, held.values())), lost=len(lost))
        if lost and self._loop is not None:
            self._loop.call_soon_threadsafe(self._on_lost, lost)

    def _held(self) -> dict[str, list[str]]:
        """The held ids, read while the loop is stuck (a rare race with it just retries)."""
        for _ in range(3):
            try:
                return self._leases.held()
            except RuntimeError:  # changed size while read: the loop moved meanwhile
                continue
        return {}


def _extend(client: redis.Redis, active: str, args: list[Any]) -> list[Any]:
    script = SCRIPTS["extend"]
    try:
        result: list[Any] = client.evalsha(script.sha, 1, active, *args)
    except NoScriptError:
        client.script_load(script.source)
        result = client.evalsha(script.sha, 1, active, *args)
    return result


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
