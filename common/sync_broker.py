"""The distributor's side of the Broker on redis-py's synchronous client, for SyncDistributor.

The same Lua scripts and the same calls (common/calls.py builds both brokers' calls), so a task
sent from a Django view is byte for byte the task an async app sends. redis-py's client is
thread-safe: each command takes a connection of its own from the pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, OutOfMemoryError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from .calls import CANCEL_REPLIES, ScriptCalls, tombstone_info
from .clock import now_ms
from .errors import BrokerUnavailable, RedisOutOfMemory
from .keys import Keys
from .scripts import SCRIPTS
from .task import NewTask, TaskInfo
from .task_hash import info_from_hash, text
from .transport import Call
from .transport import _typed as typed_error

_PIPELINE = 10  # enqueue_many script calls per round trip, as the async broker


def create_sync_redis(url: str, *, retries: int = 3, timeout: float = 5.0) -> Redis:
    """A synchronous client for ``url`` with reconnect and backoff; a round trip is bounded
    by ``timeout`` (a socket timeout: the sync client has no other way to bound a call)."""
    return Redis.from_url(
        url,
        decode_responses=False,
        socket_connect_timeout=5.0,
        socket_timeout=timeout,
        socket_keepalive=True,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )


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
        pipe = self.redis.pipeline(transaction=False)
        for script in SCRIPTS.values():
            pipe.script_load(script.source)
        pipe.execute()

    def _guard(self, fn: Any, *args: Any) -> Any:
        """Run ``fn``; connection failures become BrokerUnavailable, OOM RedisOutOfMemory."""
        try:
            return fn(*args)
        except OutOfMemoryError as exc:
            raise RedisOutOfMemory(f"Redis is full (maxmemory reached): {exc}") from exc
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise BrokerUnavailable(f"Redis unreachable: {exc}") from exc

    def _call_many(self, calls: Sequence[Call]) -> list[Any]:
        """The calls in one pipelined round trip; NOSCRIPT loads the scripts and repeats."""
        return list(self._guard(self._pipeline, calls))

    def _pipeline(self, calls: Sequence[Call]) -> list[Any]:
        for attempt in (1, 2):
            pipe = self.redis.pipeline(transaction=False)
            for name, keys, args in calls:
                pipe.evalsha(SCRIPTS[name].sha, len(keys), *keys, *args)
            results = pipe.execute(raise_on_error=False)
            if attempt == 1 and any(isinstance(r, NoScriptError) for r in results):
                self._load_scripts()
                continue
            for (name, _, _), result in zip(calls, results, strict=True):
                if isinstance(result, ResponseError):  # as the async transport types them
                    raise typed_error(result, SCRIPTS[name])
            return list(results)
        raise AssertionError("unreachable")  # pragma: no cover

    def _call(self, call: Call) -> Any:
        return self._call_many([call])[0]

    def register_queues(self, queues: set[str]) -> None:
        new = [q for q in queues if q not in self._known_queues]
        if new:
            self._guard(self.redis.sadd, self.keys.queues, *new)
            self._known_queues.update(new)

    def enqueue(self, task: NewTask) -> None:
        """Write one task; raises TaskIdConflict, DuplicateTask or BrokerUnavailable."""
        self.register_queues({task.queue})
        self._check_enqueued(task, self._call(self._enqueue_call(task)))

    def enqueue_many(self, tasks: Sequence[NewTask]) -> list[str]:
        """Write many tasks (see Broker.enqueue_chunks); returns the ids that existed."""
        self.register_queues({t.queue for t in tasks})
        calls = self._enqueue_many_calls(tasks)
        existed: list[str] = []
        for start in range(0, len(calls), _PIPELINE):
            for conflicts in self._call_many(calls[start : start + _PIPELINE]):
                existed += [text(c) for c in conflicts]
        return existed

    def get(self, queue: str, task_id: str) -> TaskInfo | None:
        qk = self.keys.queue(queue)
        raw = self._guard(self.redis.hgetall, qk.task(task_id))
        if not raw:
            return tombstone_info(
                task_id, queue, self._guard(self.redis.get, qk.tombstone(task_id))
            )
        return info_from_hash(task_id, queue, raw)

    def watch(self, queue: str, task_id: str) -> int:
        return int(self._call(self._watch_call(queue, task_id)))

    def wait_signal(self, queue: str, task_id: str, seconds: float) -> bool:
        """As Broker.wait_signal; ``seconds`` must stay below the socket timeout."""
        key = self.keys.queue(queue).waiter(task_id)
        got = self._guard(self.redis.blpop, [key], seconds)
        if got is not None:
            self._guard(self.redis.lpush, key, b"1")
        return got is not None

    def cancel(self, queue: str, task_id: str) -> str:
        return CANCEL_REPLIES[int(self._call(self._cancel_call(queue, task_id, now_ms())))]
