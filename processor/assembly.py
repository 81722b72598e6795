"""A processor's assembly: Redis made ready for its components (scripts loaded, queues
registered, start-up checks, retried while Redis is away), every component built and given
what it uses by name (``Parts``), and the loops that keep storage in step started. The
Processor (processor.py) decides when, and stops the parts in its stated order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.errors import BrokerUnavailable
from tandemq.common.logging import Logger
from tandemq.common.preflight import check_redis
from tandemq.common.settings import Settings
from tandemq.common.task import TaskMessage

from .backoff import Backoff
from .cancels import CancelListener
from .cron import CronEntry, Scheduler
from .fetcher import Fetcher
from .forwarder import Forwarder
from .handlers import Handlers
from .heartbeat import Heartbeat
from .janitor import Janitor
from .known_types import KnownTypes
from .leasekeeper import LeaseKeeper
from .leases import Leases
from .middleware import Middleware
from .operating import Operating
from .orphans import Orphans
from .outcome import Outcome, OutcomeObserver
from .periodic import repeat
from .recoverer import Recoverer
from .retry import RetryDelay
from .runner import Runner
from .running import Running
from .slots import Slots
from .syncer import Syncer
from .wakeup import WakeListener

if TYPE_CHECKING:
    from .ops import Ops

JANITOR_INTERVAL = 2.0

Spawn = Callable[[Coroutine[Any, Any, Any]], None]


@dataclass(frozen=True, slots=True)
class Parts:
    """A started processor's components (see Assembly.build)."""

    redis: Redis
    broker: Broker
    slots: Slots
    leases: Leases
    syncer: Syncer
    outcome: Outcome
    executor: ThreadPoolExecutor
    wake_listener: WakeListener
    cancel_listener: CancelListener
    runner: Runner
    fetcher: Fetcher
    heartbeat: Heartbeat
    known_types: KnownTypes
    operating: Operating  # paused queues, counts, the heartbeat record (tandemq/inspector)


@dataclass(frozen=True, slots=True)
class Assembly:
    """What a processor's parts are built from: its settings and what was registered on it
    before start (handlers, middleware, the lifespan's state, extra components, cron)."""

    settings: Settings
    owner: str  # the processor's id: leases, acks and the heartbeat record carry it
    handlers: Handlers
    running: Running  # the handlers running now: heartbeat and cancels stop them
    retry_delay: RetryDelay
    middlewares: Sequence[Middleware[Any]]
    state: Any
    observer: OutcomeObserver | None  # the ops port's task metrics, when it is on
    extras: Sequence[Callable[[], Coroutine[Any, Any, None]]]
    cron: list[CronEntry]

    def build(self, redis: Redis, broker: Broker) -> Parts:
        """Every component, each given what it uses by name."""
        s = self.settings
        slots, leases, syncer = Slots(s.concurrency, s.queue_concurrency), Leases(), Syncer()
        known_types = KnownTypes(broker, self.handlers, s.unknown_type_grace_seconds)
        operating = Operating(broker, self.owner, s, leases, slots)
        outcome = self._outcome(broker, leases, syncer, known_types, operating)
        executor = ThreadPoolExecutor(s.concurrency, thread_name_prefix="tandemq-handler")
        fetched: asyncio.Queue[TaskMessage] = asyncio.Queue()
        wake = asyncio.Event()
        running = self.running
        return Parts(
            redis=redis,
            broker=broker,
            slots=slots,
            leases=leases,
            syncer=syncer,
            outcome=outcome,
            executor=executor,
            wake_listener=WakeListener(
                redis, broker.keys.wake_channel, set(s.queues), wake, transport=broker.transport
            ),
            cancel_listener=CancelListener(
                redis=redis,
                channel=broker.keys.cancel_channel,
                running=running,
                leases=leases,
                outcome=outcome,
                transport=broker.transport,
            ),
            runner=self._runner(outcome, slots, fetched, executor),
            fetcher=self._fetcher(broker, slots, leases, fetched, wake, operating),
            heartbeat=Heartbeat(
                broker=broker,
                owner=self.owner,
                leases=leases,
                lease_ms=int(s.lease_seconds * 1000),
                running=running,
            ),
            known_types=known_types,
            operating=operating,
        )

    def _outcome(
        self,
        broker: Broker,
        leases: Leases,
        syncer: Syncer,
        known_types: KnownTypes,
        operating: Operating,
    ) -> Outcome:
        return Outcome(
            broker=broker,
            owner=self.owner,
            leases=leases,
            syncer=syncer,
            retry_delay=self.retry_delay,
            known_types=known_types,
            counts=operating.counts,
            observer=self.observer,
        )

    def _runner(
        self,
        outcome: Outcome,
        slots: Slots,
        fetched: asyncio.Queue[TaskMessage],
        executor: ThreadPoolExecutor,
    ) -> Runner:
        s = self.settings
        return Runner(
            handlers=self.handlers,
            outcome=outcome,
            slots=slots,
            tasks=fetched,
            default_timeout=s.default_timeout_seconds,
            executor=executor,
            running=self.running,
            max_result_bytes=s.max_payload_bytes,
            middlewares=self.middlewares,
            state=self.state,
        )

    def _fetcher(
        self,
        broker: Broker,
        slots: Slots,
        leases: Leases,
        fetched: asyncio.Queue[TaskMessage],
        wake: asyncio.Event,
        operating: Operating,
    ) -> Fetcher:
        s = self.settings
        return Fetcher(
            broker=broker,
            owner=self.owner,
            queues=s.queues,
            strict=s.strict_priority,
            slots=slots,
            leases=leases,
            out=fetched,
            wake=wake,
            lease_ms=int(s.lease_seconds * 1000),
            poll_interval=s.poll_interval_seconds,
            blocking_take=s.blocking_take,
            rates=s.rate_limits,
            paused=operating.pauses.paused,
        )

    def start_loops(self, parts: Parts, spawn: Spawn) -> None:
        """The loops that keep storage in step; they run until shutdown's last step."""
        s = self.settings
        names = list(s.queues)
        recover_every = min(max(s.lease_seconds / 2, 0.1), 10.0)
        janitor = Janitor(
            parts.broker,
            names,
            s.archive_max_size,
            int(s.archive_max_age_seconds * 1000),
            JANITOR_INTERVAL,
        )
        spawn(parts.syncer.run())
        spawn(parts.outcome.run())
        spawn(repeat(parts.heartbeat.step, "heartbeat"))
        spawn(self._lease_keeper(parts).tick())
        spawn(repeat(parts.known_types.step, "known_types"))
        spawn(repeat(Orphans(parts.broker, names).step, "orphans"))
        spawn(repeat(Recoverer(parts.broker, names, recover_every).step, "recoverer"))
        spawn(repeat(Forwarder(parts.broker, names).step, "forwarder"))
        spawn(repeat(janitor.step, "janitor"))
        spawn(parts.wake_listener.run())
        spawn(parts.cancel_listener.run())
        for extra in self.extras:
            spawn(extra())
        if self.cron:
            spawn(repeat(Scheduler(parts.broker, self.cron).step, "cron"))

    def _lease_keeper(self, parts: Parts) -> LeaseKeeper:
        s = self.settings
        # Its own blocking client, bounded to a third of a lease per call (it runs while the
        # loop is stuck); built from the same options as the processor's (TLS, Sentinel).
        options = replace(s.redis_options(), connect_timeout=2.0)
        return LeaseKeeper(
            connect=lambda: options.sync_client(read_timeout=s.lease_seconds / 3),
            keys=parts.broker.keys,
            owner=self.owner,
            leases=parts.leases,
            running=self.running,
            lease_ms=int(s.lease_seconds * 1000),
            max_block=s.max_loop_block_seconds or 3 * s.lease_seconds,
            on_lost=parts.heartbeat.lost,
        )


async def prepare_redis(
    broker: Broker, settings: Settings, stopping: asyncio.Event, log: Logger
) -> None:
    """Load the scripts, retrying with backoff while Redis is away (a daemon started
    before its Redis waits for it; ``stop()``, which sets ``stopping``, ends the wait)."""
    backoff = Backoff()
    while True:
        try:
            await broker.load_scripts()
            await check_redis(broker, settings.allow_eviction)  # before it writes anything
            await broker.register_queues(settings.queues)
            # One script call, as every component makes them: an ACL that refuses them
            # fails here, at start, naming the command, not in a loop of fetch.failed.
            await broker.forward(list(settings.queues)[:1])
            await broker.probe_channel()  # wake-ups: the channel's ACL too
            return
        except BrokerUnavailable as exc:
            if stopping.is_set():
                raise
            log.error("redis.unavailable", step="start", error=str(exc), retry_in=backoff.delay)
            await backoff.wait()


def ops_for(settings: Settings) -> Ops | None:
    """The processor's ops port (metrics, probes), or None when TANDEMQ_METRICS_PORT is unset."""
    if settings.metrics_port is None:
        return None
    from .ops import Ops  # noqa: PLC0415 - prometheus-client comes with the metrics extra

    return Ops(settings)
