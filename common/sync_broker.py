"""The distributor's side of the Broker on redis-py's synchronous client, for SyncDistributor.

The same Lua scripts and the same calls (common/calls.py builds both brokers' calls), so a task
sent from a Django view is byte for byte the task an async app sends. redis-py's client is
thread-safe: each command takes a connection of its own from the pool.

On a Redis Cluster the client is redis-py's blocking ``RedisCluster``: a pipeline is split
per primary, each script call routed by its first key (a queue's calls to the queue's slot,
the ``p:due`` mark to its own), and scripts are loaded on every primary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from redis import Redis
from redis.exceptions import (
    AuthenticationError,
    NoScriptError,
    ResponseError,
    SlotNotCoveredError,
)

from .calls import (
    CANCEL_MISSING,
    CANCEL_REPLIES,
    WATCH_MISSING,
    ScriptCalls,
    next_stretch,
    tombstone_info,
)
from .clock import now_ms
from .cluster import every_primary, is_cluster, node_of
from .envelope import info as envelope_info
from .envelope import may_be_enveloped
from .errors import OutcomeUnknown, TandemqError
from .keys import Keys
from .replication import Confirm, check_confirmed, replication_commands
from .replies import StreamStopped, incomplete_send, lost_redis, raised_error, unavailable
from .scripts import SCRIPTS
from .task import NewTask, TaskInfo
from .task_hash import info_from_hash, text
from .transport import Call
from .transport import _typed as typed_error

Command = tuple[str, list[str | int]]  # a plain command, after the key it is routed by
_PIPELINE = 10  # enqueue_many script calls per round trip, as the async broker


class SyncBroker(ScriptCalls):
    """Writes and reads tasks with a synchronous client; safe to share between threads."""

    def __init__(self, redis: Redis, keys: Keys, timeout: float = 5.0) -> None:
        self.redis = redis
        self.keys = keys
        self.timeout = timeout
        self._known_queues: set[str] = set()

    def load_scripts(self) -> None:
        self._guard(self._load_scripts)

    def _load_scripts(self) -> None:
        if is_cluster(self.redis):  # SCRIPT LOAD goes to every primary, one script at a time
            for script in SCRIPTS.values():
                self.redis.script_load(script.source)
            return
        pipe = self.redis.pipeline(transaction=False)
        for script in SCRIPTS.values():
            pipe.script_load(script.source)
        pipe.execute()

    def _guard(self, fn: Any, *args: Any) -> Any:
        """Run ``fn`` with the async transport's error contract (common/replies.py): an error
        reply or refused login as a typed TandemqError; a connection failure as
        BrokerUnavailable (nothing sent) or OutcomeUnknown (the command may have run)."""
        try:
            return fn(*args)
        except (AuthenticationError, ResponseError) as exc:  # refused login, ACL, OOM, bad db
            raise raised_error(exc) from exc
        except Exception as exc:
            if not _lost(exc):
                raise
            raise unavailable(exc, self.timeout) from exc

    def _call_many(self, calls: Sequence[Call], confirm: Confirm | None = None) -> list[Any]:
        """The calls in one pipelined round trip; NOSCRIPT loads the scripts and repeats.
        Raises the first error reply as a TandemqError. With ``confirm``, its replication
        commands follow the calls on their connection; their replies come last."""
        results = self._run(calls, confirm)
        for result in results[: len(calls)]:
            if isinstance(result, TandemqError):
                raise result
        return results

    def _run(self, calls: Sequence[Call], confirm: Confirm | None = None) -> list[Any]:
        """The calls' replies, an error reply typed in its call's place (then ``confirm``'s)."""
        return list(self._guard(self._pipeline, calls, confirm))

    def _pipeline(self, calls: Sequence[Call], confirm: Confirm | None) -> list[Any]:
        tail = self._confirm_commands(confirm) if confirm else []
        results = self._send(calls, tail)
        redo = [i for i, r in enumerate(results[: len(calls)]) if isinstance(r, NoScriptError)]
        if redo:  # a new or flushed primary: those calls again, not the others (they ran)
            self._load_scripts()
            again = self._send([calls[i] for i in redo], tail)  # the WAIT after them, too
            for i, reply in zip(redo, again, strict=False):
                results[i] = reply
            results[len(calls) :] = again[len(redo) :]
        return (
            [  # typed as the async transport types them
                typed_error(r, SCRIPTS[name]) if isinstance(r, ResponseError) else r
                for (name, _, _), r in zip(calls, results, strict=False)
            ]
            + results[len(calls) :]
        )

    def _send(self, calls: Sequence[Call], tail: Sequence[Command] = ()) -> list[Any]:
        """The calls' replies from one pipeline (on a cluster, one per primary involved),
        then ``tail``'s: plain commands, each routed by its key."""
        pipe = self.redis.pipeline(transaction=False)
        for name, keys, args in calls:
            # not pipe.evalsha: a cluster pipeline refuses that method, not the command
            command = ("EVALSHA", SCRIPTS[name].sha, len(keys), *keys, *args)
            pipe.execute_command(*command, **self._route(keys))  # type: ignore[no-untyped-call]
        for key, plain in tail:
            pipe.execute_command(*plain, **self._route([key]))  # type: ignore[no-untyped-call]
        results = pipe.execute(raise_on_error=False)
        # a cluster pipeline puts a node's connection failure in its calls' places
        lost = next((r for r in results if isinstance(r, Exception) and _lost(r)), None)
        if lost is not None:
            raise lost
        return list(results)

    def _confirm_commands(self, confirm: Confirm) -> list[Command]:
        """PUBLISH and WAIT for the queue (common/replication.py), routed to the queue's
        primary: on a cluster the WAIT must share the writes' connection, which it does in
        the same pipeline (one connection per node)."""
        pending = self.keys.queue(confirm.queue).pending
        commands = replication_commands(
            self.keys, confirm.queue, confirm.replicas, confirm.timeout, is_cluster(self.redis)
        )
        return [(pending, command) for command in commands]

    def _route(self, keys: Sequence[str]) -> dict[str, Any]:
        """On a cluster, the node of the call's first key (``node_of``). Left to redis-py, it
        asks the first primary ``COMMAND GETKEYS`` for every EVALSHA (a second round trip, to
        a node that may not be the call's). A call redirected (MOVED) or failed is sent again
        without it, routed by redis-py."""
        return node_of(self.redis, keys[0]) if keys else {}

    def _call(self, call: Call) -> Any:
        return self._call_many([call])[0]

    def register_queues(self, queues: set[str]) -> None:
        new = [q for q in queues if q not in self._known_queues]
        if new:
            self._guard(self.redis.sadd, self.keys.queues, *new)
            self._known_queues.update(new)

    def enqueue(self, task: NewTask, confirm: Confirm | None = None) -> None:
        """Write one task; raises TaskIdConflict, DuplicateTask or BrokerUnavailable. With
        ``confirm``, NotReplicated when fewer replicas confirmed it (a TaskIdConflict only
        once they did: the task is there, as the async Distributor decides)."""
        self.register_queues({task.queue})
        calls = [self._enqueue_call(task)]
        if task.due_ms:  # the forwarder finds scheduled tasks through p:due
            calls.append(self._mark_due_call([task.queue]))
        replies = self._call_many(calls, confirm)
        if confirm and not isinstance(replies[0], list):  # written, or there (a conflict)
            check_confirmed(replies[len(calls) :], [task.id], task.queue, confirm.replicas)
        self._check_enqueued(task, replies[0])  # a list: a DuplicateTask, not confirmed

    def enqueue_chunks(
        self, chunks: Iterable[Sequence[NewTask]], confirm: Confirm | None = None
    ) -> list[str]:
        """Write many tasks, ``_PIPELINE`` script calls per round trip; returns the ids that
        existed (see Broker.enqueue_chunks). A failure part-way raises SendManyIncomplete
        with the ids written, not written and unknown, decided as for the async broker
        (``incomplete_send``); one before anything was written raises its own error. With
        ``confirm``, every round trip ends in its WAIT (on a cluster, the only one that sees
        that connection's writes) and NotReplicated names every id if one counted short."""
        calls: list[Call] = []
        ids: list[str] = []
        for chunk in chunks:
            queues = {t.queue for t in chunk}
            self.register_queues(queues)
            calls += self._enqueue_many_calls(chunk)
            ids += (t.id for t in chunk)
            if any(t.due_ms for t in chunk):  # as Broker.enqueue_chunks
                calls.append(self._mark_due_call(queues))
        replies: list[Any] = []
        waits: list[list[Any]] = []
        try:
            for start in range(0, len(calls), _PIPELINE):
                batch = calls[start : start + _PIPELINE]
                try:
                    got = self._run(batch, confirm)
                except OutcomeUnknown as exc:
                    raise StreamStopped(calls, replies, exc, len(batch)) from exc
                except TandemqError as exc:  # nothing of this round trip was sent
                    raise StreamStopped(calls, replies, exc, 0) from exc
                replies += got[: len(batch)]
                waits.append(got[len(batch) :])
                if any(isinstance(r, Exception) for r in replies):
                    raise StreamStopped(calls, replies, _first_error(replies), 0)
        except StreamStopped as stopped:
            raise incomplete_send(stopped) from stopped.cause
        if confirm:
            for waited in waits:
                check_confirmed(waited, ids, confirm.queue, confirm.replicas)
        # (a mark call answers a count)
        return [text(c) for conflicts in replies if isinstance(conflicts, list) for c in conflicts]

    def server_info(self) -> Mapping[Any, Any]:
        """As Broker.server_info."""
        info: Mapping[Any, Any] = self._guard(lambda: self.redis.info(**every_primary(self.redis)))
        return info

    def get(self, queue: str, task_id: str) -> TaskInfo | None:
        qk = self.keys.queue(queue)
        raw = self._guard(self.redis.hgetall, qk.task(task_id))
        if not raw:  # waiting as an envelope (an async Distributor's send)? See Broker.get
            envelope = self.find_envelope(queue, task_id)
            if envelope is not None:
                return envelope_info(queue, envelope)
            raw = self._guard(self.redis.hgetall, qk.task(task_id))
        if not raw:
            return tombstone_info(
                task_id, queue, self._guard(self.redis.get, qk.tombstone(task_id))
            )
        return info_from_hash(task_id, queue, raw)

    def find_envelope(self, queue: str, task_id: str, pin: bool = False) -> bytes | None:
        """As Broker.find_envelope."""
        if not may_be_enveloped(task_id):
            return None
        start: int | bytes | None = 0
        while isinstance(start, int):
            start = next_stretch(start, self._call(self._find_call(queue, task_id, start, pin)))
        return start

    def _pinned(self, queue: str, task_id: str) -> bool:
        """As Broker._pinned."""
        if not may_be_enveloped(task_id):
            return False
        self.find_envelope(queue, task_id, pin=True)
        return True

    def watch(self, queue: str, task_id: str) -> int:
        got = int(self._call(self._watch_call(queue, task_id)))
        if got == WATCH_MISSING and self._pinned(queue, task_id):
            got = int(self._call(self._watch_call(queue, task_id)))
        return got

    def wait_signal(self, queue: str, task_id: str, seconds: float) -> bool:
        """As Broker.wait_signal; ``seconds`` must stay below the socket timeout."""
        key = self.keys.queue(queue).waiter(task_id)
        got = self._guard(self.redis.blpop, [key], seconds)
        if got is not None:
            self._guard(self.redis.lpush, key, b"1")
        return got is not None

    def cancel(self, queue: str, task_id: str) -> str:
        got = int(self._call(self._cancel_call(queue, task_id, now_ms())))
        if got == CANCEL_MISSING and self._pinned(queue, task_id):
            got = int(self._call(self._cancel_call(queue, task_id, now_ms())))
        return CANCEL_REPLIES[got]


def _lost(exc: BaseException) -> bool:
    """``lost_redis``, or no node known for a key's slot (a cluster mid-failover)."""
    return lost_redis(exc) or isinstance(exc, SlotNotCoveredError)


def _first_error(replies: list[Any]) -> Exception:
    return next(r for r in replies if isinstance(r, Exception))
