"""RQ measurements; run with bench/.venvs/rq. RQ is synchronous: no concurrent-senders column,
and its worker runs one job at a time. SimpleWorker (jobs run in the worker process) is used
instead of the default forking Worker, which forks once per job and is far slower."""

from __future__ import annotations

import threading
import time

from redis import Redis
from rq import Queue, SimpleWorker

from . import _harness as h


def noop(n: int, s: str) -> None:
    h.TRACKER.track(n)


# By name: RQ refuses functions of __main__, which this module is when run with -m.
NOOP = f"{__spec__.name}.noop"


def _queue(url: str) -> Queue:
    return Queue(connection=Redis.from_url(url))


def _bulk(queue: Queue, n: int) -> None:
    queue.enqueue_many([Queue.prepare_data(NOOP, (i, h.PAYLOAD)) for i in range(n)])


def _worker(queue: Queue) -> SimpleWorker:
    return SimpleWorker([queue], connection=queue.connection)


def enqueue_seq(url: str, n: int) -> h.Result:
    queue = _queue(url)
    started = time.perf_counter()
    for i in range(n):
        queue.enqueue(NOOP, i, h.PAYLOAD)
    return h.rate(n, started)


def enqueue_bulk(url: str, n: int) -> h.Result:
    queue = _queue(url)
    started = time.perf_counter()
    _bulk(queue, n)
    return h.rate(n, started)


def process(url: str, n: int) -> h.Result:
    queue = _queue(url)
    _bulk(queue, n)
    started = time.perf_counter()
    _worker(queue).work(burst=True, logging_level="WARNING")
    return h.rate(n, started)


def _send_spaced(url: str, n: int) -> None:
    queue = _queue(url)
    time.sleep(h.SETTLE_SECONDS)
    start = time.perf_counter()
    for i in range(n):
        queue.enqueue(NOOP, h.now_us(), h.PAYLOAD)
        delay = start + (i + 1) * h.LATENCY_GAP_SECONDS - time.perf_counter()
        if delay > 0:
            time.sleep(delay)


def latency(url: str, n: int) -> h.Result:
    # The worker must own the main thread (it installs signal handlers); the sender is a thread.
    h.TRACKER.reset(n, latency=True)
    sender = threading.Thread(target=_send_spaced, args=(url, n))
    sender.start()
    _worker(_queue(url)).work(max_jobs=n, logging_level="WARNING")
    sender.join()
    return h.TRACKER.percentiles()


def memory(url: str, n: int) -> h.Result:
    queue = _queue(url)
    return h.memory_delta(url, lambda: _bulk(queue, n), n)


if __name__ == "__main__":
    h.main(
        {
            "enqueue_seq": enqueue_seq,
            "enqueue_bulk": enqueue_bulk,
            "process": process,
            "latency": latency,
            "memory": memory,
        }
    )
