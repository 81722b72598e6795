"""taskiq with taskiq-redis's ListQueueBroker (LPUSH/BRPOP, no acknowledgement)."""

from __future__ import annotations

from taskiq_redis import ListQueueBroker

from . import _harness as h
from ._taskiq import Bench

if __name__ == "__main__":
    h.main(Bench(ListQueueBroker).measurements())
