"""taskiq with taskiq-redis's RedisStreamBroker (acknowledged delivery)."""

from __future__ import annotations

from taskiq_redis import RedisStreamBroker

from . import _harness as h
from ._taskiq import Bench

if __name__ == "__main__":
    h.main(Bench(RedisStreamBroker).measurements())
