"""Every Redis key and channel name tandemq uses; nothing else builds one.

Layout, with ``p`` the prefix and ``q`` the queue name used as a Redis Cluster hash tag, so every
key of one queue lives in one slot and one Lua script can change them atomically::

    p:queues                 SET     names of every queue ever sent to (for inspection)
    p:{q}:pending            LIST    task ids ready to run; LPUSH to add, RPOP to take (FIFO)
    p:{q}:active             ZSET    task id -> lease deadline (ms); the lease *is* membership
    p:{q}:scheduled          ZSET    task id -> due time (ms), from process_in / process_at
    p:{q}:retry              ZSET    task id -> due time (ms) of the next attempt
    p:{q}:archived           ZSET    task id -> archived at (ms); trimmed by size and age
    p:{q}:completed          ZSET    task id -> expiry (ms); only tasks sent with a retention
    p:{q}:t:<id>             HASH    the task: envelope fields and mutable state (see TaskFields)
    p:{q}:u:<digest>         STRING  unique lock, value is the owning task id, with a TTL
    p:{q}:takers             ZSET    idle processor id -> deadline of its taking list
    p:{q}:taking:<owner>     LIST    ids a blocking move took, until take.lua leases them
    p:{q}:canceled           ZSET    task id -> expiry (ms): canceled tasks, kept for their window
    p:{q}:w:<id>             LIST    wake-up tokens for callers of wait() on that task (short TTL)
    p:{q}:x:<id>             STRING  tombstone of a finished task whose data expired (short TTL)
    p:wake                   CHANNEL published when a queue goes from empty to non-empty
    p:types                  HASH    task type -> when a live processor last said it handles it (ms)
    p:due                    ZSET    queue -> when to look at its scheduled/retry sets (ms)
    p:leased                 ZSET    queue -> when it last held leases (ms)
    p:paused                 SET     names of the paused queues (an index of the p:{q}:paused flags)
    p:cancel                 CHANNEL "queue\x1fid" of a running task whose handler must stop
    p:cron                   HASH    periodic entry id -> its definition as JSON (for listings)
    p:{q}:cron:<entry id>    HASH    last (latest tick ms enqueued), next (tick ms after it)
    p:{q}:cron:<id>:ticks    ZSET    tick -> tick: the entry's ticks claimed lately
    p:{q}:rate               STRING  the queue's rate limit state (GCRA theoretical arrival ms)

List intake (processor/intake_list.py), with ``s`` the user's list and ``{t}`` its hash tag
(the tag Redis Cluster would hash ``s`` by), so these keys share the list's slot and BLMOVE
and the recovery script can reach them together::

    p:{t}:intake:s:consumers       ZSET  consumer id -> lease deadline (ms)
    p:{t}:intake:s:processing:<id> LIST  items a consumer moved out of ``s``, not yet tasks

Operating surface (tandemq/inspector, processor/presence.py, processor/counts.py)::

    p:{q}:paused             STRING  exists while the queue is paused: processors skip it
    p:{q}:processed:m:<n>    STRING  attempts finished in minute n (epoch ms // 60000), TTL 2 h
    p:{q}:failed:m:<n>       STRING  attempts failed in minute n, TTL 2 h
    p:{q}:processed:d:<n>    STRING  attempts finished on UTC day n (epoch ms // 86400000), TTL 32 d
    p:{q}:failed:d:<n>       STRING  attempts failed on UTC day n, TTL 32 d
    p:processors             ZSET    processor id -> last heartbeat (ms)
    p:processor:<id>         STRING  the processor's JSON state, with a TTL of a few heartbeats

Scripts that must reach a task hash from an id taken out of a list build the name
``task_prefix(q) + id`` inside Lua; ``task_prefix`` is passed in as an ARGV for that reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

_HASH_TAG_FORBIDDEN = ("{", "}")


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The keys of one queue; all share the ``{queue}`` hash tag."""

    pending: str
    active: str
    scheduled: str
    retry: str
    archived: str
    completed: str
    task_prefix: str
    unique_prefix: str
    takers: str
    taking_prefix: str
    paused: str
    base: str  # p:{q}, for the counters below and SCAN patterns
    # results, waiting and cancellation (docs/RESULTS.md)
    canceled: str = ""
    waiter_prefix: str = ""
    tombstone_prefix: str = ""

    def count(self, kind: str, bucket: str, n: int) -> str:
        """Counter of ``kind`` (processed|failed) for minute (``m``) or day (``d``) ``n``."""
        return f"{self.base}:{kind}:{bucket}:{n}"

    def task(self, task_id: str) -> str:
        return self.task_prefix + task_id

    def waiter(self, task_id: str) -> str:
        return self.waiter_prefix + task_id

    def tombstone(self, task_id: str) -> str:
        return self.tombstone_prefix + task_id

    def unique(self, type_name: str, payload: bytes) -> str:
        digest = hashlib.sha256(type_name.encode() + b"\0" + payload).hexdigest()
        return self.unique_prefix + digest

    def taking(self, owner: str) -> str:
        return self.taking_prefix + owner


class Keys:
    """Key names under one prefix. ``Keys("tandemq").queue("default").pending``."""

    def __init__(self, prefix: str = "tandemq") -> None:
        if not prefix or any(c in prefix for c in _HASH_TAG_FORBIDDEN):
            raise ValueError(f"key prefix must be non-empty and without braces, got {prefix!r}")
        self.prefix = prefix
        self.queues = f"{prefix}:queues"
        self.wake_channel = f"{prefix}:wake"
        self.types = f"{prefix}:types"
        self.due = f"{prefix}:due"  # ZSET queue -> when to look at its scheduled/retry sets
        self.leased = f"{prefix}:leased"  # ZSET queue -> when it last held leases
        self.paused_queues = f"{prefix}:paused"  # SET of paused queue names (flags' index)
        # SCAN pattern of every task hash under this prefix (glob characters escaped)
        self.task_pattern = _glob_escape(prefix) + ":{*}:t:*"
        self.processors = f"{prefix}:processors"
        self.cancel_channel = f"{prefix}:cancel"
        self._cache: dict[str, QueueKeys] = {}
        self.cron_entries = f"{prefix}:cron"

    # -- periodic tasks and rate limits (processor/cron.py, processor/limits.py) ------------

    def cron_state(self, queue: str, entry_id: str) -> str:
        """The tick state of a periodic entry, in its queue's slot: the script that enqueues
        a tick checks and moves it in the same atomic step as writing the task."""
        validate_queue_name(queue)
        return f"{self.prefix}:{{{queue}}}:cron:{entry_id}"

    def cron_ticks(self, queue: str, entry_id: str) -> str:
        """The ticks of an entry claimed lately (beside cron_state, same slot)."""
        return f"{self.cron_state(queue, entry_id)}:ticks"

    def rate(self, queue: str) -> str:
        """The rate limit state of a queue, in its slot (dequeue.lua reads it)."""
        validate_queue_name(queue)
        return f"{self.prefix}:{{{queue}}}:rate"

    def queue(self, name: str) -> QueueKeys:
        keys = self._cache.get(name)
        if keys is None:
            validate_queue_name(name)
            base = f"{self.prefix}:{{{name}}}"
            keys = QueueKeys(
                pending=f"{base}:pending",
                active=f"{base}:active",
                scheduled=f"{base}:scheduled",
                retry=f"{base}:retry",
                archived=f"{base}:archived",
                completed=f"{base}:completed",
                task_prefix=f"{base}:t:",
                unique_prefix=f"{base}:u:",
                takers=f"{base}:takers",
                taking_prefix=f"{base}:taking:",
                paused=f"{base}:paused",
                base=base,
                canceled=f"{base}:canceled",
                waiter_prefix=f"{base}:w:",
                tombstone_prefix=f"{base}:x:",
            )
            self._cache[name] = keys
        return keys

    def processor(self, processor_id: str) -> str:
        """The JSON state a live processor writes with each heartbeat."""
        return f"{self.prefix}:processor:{processor_id}"

    def parse_task_key(self, key: str) -> tuple[str, str] | None:
        """``p:{q}:t:<id>`` -> (q, id); None for a key of another shape."""
        head = f"{self.prefix}:{{"
        if not key.startswith(head):
            return None
        queue, sep, task_id = key[len(head) :].partition("}:t:")
        return (queue, task_id) if sep and queue and task_id else None


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


@dataclass(frozen=True, slots=True)
class IntakeKeys:
    """The keys tandemq keeps beside a user's list it consumes; all in the list's slot."""

    source: str
    consumers: str
    processing_prefix: str

    def processing(self, consumer: str) -> str:
        return self.processing_prefix + consumer


def intake_keys(prefix: str, source: str) -> IntakeKeys:
    """``intake_keys("tandemq", "jobs").processing(consumer_id)``."""
    base = f"{prefix}:{{{hash_tag(source)}}}:intake:{source}"
    return IntakeKeys(source, f"{base}:consumers", f"{base}:processing:")


def hash_tag(key: str) -> str:
    """The part of ``key`` Redis Cluster hashes: the text inside the first ``{...}`` that is
    not empty, else the whole key."""
    start = key.find("{")
    if start != -1:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def validate_queue_name(name: str) -> None:
    """Queue names become hash tags, so they must be non-empty and brace-free."""
    if not name or any(c in name for c in _HASH_TAG_FORBIDDEN) or name != name.strip():
        raise ValueError(
            f"invalid queue name {name!r}: must be non-empty, no braces or edge spaces"
        )
