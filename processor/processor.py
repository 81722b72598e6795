"""The Processor: its public API (handlers, components, consumed lists and streams) and its
lifecycle: start the parts (built in assembly.py) and stop them in a stated order."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self

from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.errors import BrokerUnavailable, TandemqError
from tandemq.common.keys import Keys
from tandemq.common.logging import get_logger
from tandemq.common.redis_checks import refuse_bad_connection
from tandemq.common.settings import Settings
from tandemq.common.task import TaskMessage
from tandemq.distributor.options import DEFAULT_MAX_RETRY, DEFAULT_QUEUE

from .assembly import Assembly, Parts, ops_for, prepare_redis
from .cron import CronEntry, CronMixin
from .handlers import Handler, Handlers, M, S
from .intake import IntakeSpec, ListParse, StreamParse
from .intakes import Intakes
from .middleware import HooksMixin, Lifespan
from .retry import RetryDelay, default_retry_delay
from .running import Running
from .signals import signals_to_handle

if TYPE_CHECKING:
    from .ops import Ops


class Processor(CronMixin, HooksMixin[S], Generic[S]):
    """Runs handlers for tasks from weighted queues. ``await processor.run()`` until SIGTERM.

    ``lifespan``: an async context manager factory run once per start; what it yields is
    ``ctx.state`` in every handler and middleware (typed ``S``), and its exit runs at shutdown
    after the last handler finished. Periodic tasks: ``cron`` and ``every`` (cron.py).
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        queues: dict[str, int] | None = None,
        strict_priority: bool | None = None,
        concurrency: int | None = None,
        lease_seconds: float | None = None,
        shutdown_timeout_seconds: float | None = None,
        prefix: str | None = None,
        retry_delay: RetryDelay | None = None,
        settings: Settings | None = None,
        redis: Redis | None = None,
        lifespan: Lifespan[S] | None = None,
    ) -> None:
        self.settings = settings or Settings.load(
            env=False,
            redis_url=redis_url,
            queues=queues,
            strict_priority=strict_priority,
            concurrency=concurrency,
            lease_seconds=lease_seconds,
            shutdown_timeout_seconds=shutdown_timeout_seconds,
            prefix=prefix,
        )
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.retry_delay = retry_delay or default_retry_delay
        self.handlers = Handlers()
        # The handlers running now, by task: Running.cancel(queue, task_id, reason) stops one
        # (a lost lease does; so may task cancellation).
        self.running = Running()
        self._given_redis = redis
        self._parts: Parts | None = None  # the running components, from start to shutdown
        self._loops: list[asyncio.Task[Any]] = []  # background loops (heartbeat, ...)
        self._workers: list[asyncio.Task[Any]] = []  # one per slot, running handlers
        self._fetch_task: asyncio.Task[Any] | None = None
        self._ops = ops_for(self.settings)  # here: its imports stay out of start()
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._intakes = Intakes()
        self._log = get_logger(__name__, processor=self.id)
        self._extras: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._cron: list[CronEntry] = []  # periodic entries (cron.py)
        self._init_hooks(lifespan)  # lifespan and middleware (middleware.py)

    @classmethod
    def from_env(
        cls,
        *,
        retry_delay: RetryDelay | None = None,
        redis: Redis | None = None,
        lifespan: Lifespan[S] | None = None,
        **overrides: Any,
    ) -> Processor[S]:
        """Settings from the environment (see README); keyword overrides win."""
        settings = Settings.load(**overrides)
        return cls(settings=settings, retry_delay=retry_delay, redis=redis, lifespan=lifespan)

    def handler(self, model: type[M]) -> Callable[[Handler[M, S]], Handler[M, S]]:
        """Decorator: ``@processor.handler(SendEmail)`` over ``async def f(email, ctx)``."""

        def register(func: Handler[M, S]) -> Handler[M, S]:
            self.handlers.register(model, func)
            return func

        return register

    def add_component(self, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``run()`` beside the processor's own loops (the outbox relay, say): started by
        start() before fetching begins, cancelled by shutdown() with the other loops."""
        self._extras.append(run)

    def consume_list(
        self,
        key: str,
        *,
        parse: ListParse,
        queue: str = DEFAULT_QUEUE,
        max_retry: int = DEFAULT_MAX_RETRY,
    ) -> None:
        """Turn each item producers ``LPUSH`` onto the Redis list ``key`` into a task on
        ``queue``: ``parse(line)`` returns its payload model; an item it rejects is archived
        with its raw text. Oldest first; nothing is lost if the processor dies (docs/INTAKE.md)."""
        self._intakes.add(IntakeSpec(key, parse, queue, max_retry))

    def consume_stream(
        self,
        key: str,
        *,
        group: str,
        parse: StreamParse,
        queue: str = DEFAULT_QUEUE,
        max_retry: int = DEFAULT_MAX_RETRY,
        start_id: str = "0",
    ) -> None:
        """Turn each entry producers ``XADD`` to the stream ``key`` into a task on ``queue``,
        reading as consumer group ``group`` (made at ``start_id`` if new: "0" takes the whole
        stream, "$" only later entries). ``parse(fields)`` returns the payload model; an entry
        it rejects is archived with its fields as JSON (docs/INTAKE.md)."""
        self._intakes.add(IntakeSpec(key, parse, queue, max_retry, group, start_id))

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self, *, install_signal_handlers: bool | None = None) -> None:
        """Start, serve until SIGTERM/SIGINT (or ``stop()``, or cancellation), then shut down
        gracefully. A second signal cuts the wait for running handlers short.

        ``install_signal_handlers``: True makes SIGTERM/SIGINT stop this processor (the
        daemon passes it); False leaves signals alone; None (default) handles only the
        signals nobody else handles yet, so ``asyncio.run(processor.run())`` stops on SIGTERM
        while a processor run inside a web server (uvicorn has its own handlers) leaves the
        server's signal handling as it was. Embedded, prefer ``async with processor``.
        """
        loop = asyncio.get_running_loop()
        signals = signals_to_handle(install_signal_handlers)
        for sig in signals:
            loop.add_signal_handler(sig, self.stop)
        try:
            try:
                await self.start()
            except BrokerUnavailable:
                if not self._stop.is_set():
                    raise
                return  # stopped while still waiting for Redis: nothing held, a clean stop
            await self._stop.wait()
        finally:
            await self.shutdown()
            for sig in signals:
                loop.remove_signal_handler(sig)

    def stop(self) -> None:
        """Ask ``run()`` to shut down; asking again stops waiting for running handlers."""
        if self._stop.is_set():
            self._force.set()
        self._stop.set()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    @property
    def redis(self) -> Redis:
        """The Redis client the processor uses (set by ``start``)."""
        if self._parts is None:
            raise TandemqError("the processor has no Redis client until start()")
        return self._parts.redis

    async def start(self) -> None:
        """Connect, then start the components: storage-side loops first, fetching last."""
        if self._parts is not None:
            raise TandemqError("processor already started")
        await self._open_resources()
        try:
            await self._start_components()
        except BaseException:
            await self._close_resources()
            raise

    async def _start_components(self) -> None:
        s = self.settings
        options = None if self._given_redis is not None else s.redis_options()
        redis = self._given_redis or s.redis_options().client()
        broker = Broker(redis, Keys(s.prefix), timeout=s.redis_timeout_seconds)
        try:
            await refuse_bad_connection(redis, options)  # TLS, Sentinel name: exit, not retry
            await prepare_redis(broker, s, self._stop, self._log)
        except BaseException:
            await broker.aclose()
            if self._given_redis is None:
                await redis.aclose()
            raise
        assembly = self._assembly()
        parts = self._parts = assembly.build(redis, broker)
        assembly.start_loops(parts, self._spawn)
        await parts.operating.start(self._spawn)
        self._workers = [asyncio.create_task(parts.runner.work()) for _ in range(s.concurrency)]
        try:  # a send right after start() should not wait for the fallback poll
            async with asyncio.timeout(2.0):
                await parts.wake_listener.subscribed.wait()
                await parts.cancel_listener.subscribed.wait()
        except TimeoutError:
            self._log.warning("wakeup.not_subscribed", detail="falling back to polling until it is")
        self._fetch_task = asyncio.create_task(parts.fetcher.run())
        self._intakes.start(broker, self.id, int(s.lease_seconds * 1000))
        if self._ops is not None:
            await self._start_ops(self._ops, parts)
        self._log.info(
            "processor.started",
            queues=s.queues,
            strict=s.strict_priority,
            concurrency=s.concurrency,
            handlers=self.handlers.names(),
        )

    def _assembly(self) -> Assembly:
        """What the parts are built from, as registered by now (start() runs it)."""
        return Assembly(
            settings=self.settings,
            owner=self.id,
            handlers=self.handlers,
            running=self.running,
            retry_delay=self.retry_delay,
            middlewares=self._middlewares,
            state=self.state,
            observer=self._ops.tasks if self._ops is not None else None,
            extras=self._extras,
            cron=self._cron,
        )

    async def _start_ops(self, ops: Ops, parts: Parts) -> None:
        """The metrics and probe port; it reports on the components started above."""
        await ops.start(
            ping=parts.redis.ping,
            fetching=lambda: parts.fetcher.fetching,
            components_alive=lambda: (
                not any(t.done() for t in [*self._loops, *self._workers, self._fetch_task] if t)
            ),
            in_flight=lambda: parts.slots.busy,
            redis=parts.redis,
        )

    @property
    def ops_port(self) -> int | None:
        """The port /metrics, /healthz and /readyz are served on (None when off)."""
        return self._ops.port if self._ops is not None else None

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._loops.append(asyncio.create_task(coro))

    async def shutdown(self) -> None:
        """Stop in this order, so no task is lost or waits for its lease to expire:
        1. stop fetching; 2. give unstarted tasks back to pending at once; 3. let running
        handlers finish within the shutdown timeout; 4. cancel the rest; 5. write the outcomes
        of what finished; 6. give everything still held back to pending; 7. stop the loops;
        8. write the last counts and remove the heartbeat record.
        """
        parts = self._parts
        if parts is None:
            return
        self._log.info("processor.stopping", running=parts.slots.busy)
        if self._ops is not None:
            self._ops.stopping()
        await _cancel(self._intakes.tasks)  # 0. nothing new comes in from consumed lists
        await self._intakes.closed()
        await _cancel([self._fetch_task] if self._fetch_task else [])
        await self._give_back(parts.fetcher.drain(), "not started")
        try:
            async with asyncio.timeout(self.settings.shutdown_timeout_seconds):
                await _first(parts.slots.wait_idle(), self._force.wait())
        except TimeoutError:
            self._log.warning("processor.shutdown_timeout", cancelled=parts.slots.busy)
        await _cancel(self._workers)
        await parts.outcome.flush_acks()
        await parts.syncer.flush()
        await self._give_back_ids(parts.leases.held(), "cancelled at shutdown")
        await _cancel(self._loops)
        await parts.operating.leave()
        if self._ops is not None:
            await self._ops.close()
        parts.executor.shutdown(wait=False, cancel_futures=True)
        await parts.broker.aclose()
        if self._given_redis is None:
            await parts.redis.aclose()
        self._workers, self._loops, self._fetch_task, self._parts = [], [], None, None
        await self._close_resources()
        self._log.info("processor.stopped")

    async def _give_back(self, tasks: list[TaskMessage], why: str) -> None:
        held: defaultdict[str, list[str]] = defaultdict(list)
        for task in tasks:
            held[task.queue].append(task.id)
        await self._give_back_ids(held, why)

    async def _give_back_ids(self, held: dict[str, list[str]], why: str) -> None:
        if self._parts is None or not any(held.values()):
            return
        try:
            count = await self._parts.broker.requeue(self.id, held)
        except BrokerUnavailable as exc:
            self._log.error(
                "redis.unavailable",
                step="requeue",
                error=str(exc),
                detail="tasks return after their lease",
            )
            return
        for queue, ids in held.items():
            for task_id in ids:
                self._parts.leases.release(queue, task_id)
                self._log.info("task.requeued", task_id=task_id, queue=queue, reason=why)
        self._log.info("processor.requeued", count=count)


async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel and wait. Cancels again if a task ignored it: redis-py has swallowed a
    CancelledError inside its read timeout, so one cancel is not always enough."""
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            get_logger(__name__).error("processor.component_failed", error=repr(task.exception()))


async def _first(*aws: Coroutine[Any, Any, Any]) -> None:
    """Wait until the first of ``aws`` finishes; cancel the others."""
    tasks = [asyncio.create_task(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await _cancel(tasks)
