"""Pure policy functions: weighted and strict queue selection, and the default retry delay."""

from __future__ import annotations

import itertools
import random
import statistics
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandemq.common.task import TaskInfo, TaskState
from tandemq.processor.retry import CAP, default_retry_delay
from tandemq.processor.selection import strict_counts, weighted_counts

TASK = TaskInfo(
    id="t", type="a.T", queue="default", state=TaskState.ACTIVE, payload={}, retried=0, max_retry=5
)
ERROR = RuntimeError("boom")

# -- weighted ---------------------------------------------------------------------------------


def test_weighted_draws_follow_the_weights() -> None:
    draws = 20_000
    counts = weighted_counts({"critical": 6, "default": 3, "low": 1}, draws, rng=random.Random(7))
    assert sum(counts.values()) == draws
    # 4 standard deviations of a share over 20,000 draws: 1.4 points at p=0.6, 0.85 at p=0.1.
    assert abs(counts["critical"] / draws - 0.6) < 0.014, counts
    assert abs(counts["default"] / draws - 0.3) < 0.013, counts
    assert abs(counts["low"] / draws - 0.1) < 0.0085, counts


def test_a_weight_one_queue_is_drawn_next_to_a_heavy_one() -> None:
    rng = random.Random(11)
    # P(no "rare" in 20,000 draws at 1/1000) = 0.999**20000 ~ 2e-9.
    counts = weighted_counts({"heavy": 999, "rare": 1}, 20_000, rng=rng)
    assert counts.get("rare", 0) > 0
    # And across many small batches (a processor fills a few slots at a time) too.
    seen = sum(
        weighted_counts({"heavy": 9, "rare": 1}, 1, rng=rng).get("rare", 0) for _ in range(500)
    )
    assert 20 <= seen <= 90  # expected 50


def test_weighted_skips_excluded_queues_and_renormalises() -> None:
    counts = weighted_counts(
        {"critical": 6, "default": 3, "low": 1}, 10_000, exclude={"critical"}, rng=random.Random(3)
    )
    assert set(counts) == {"default", "low"}
    assert abs(counts["default"] / 10_000 - 0.75) < 0.02


def test_weighted_with_nothing_to_draw() -> None:
    assert weighted_counts({"a": 1}, 0) == {}
    assert weighted_counts({"a": 1}, -3) == {}
    assert weighted_counts({"a": 1}, 5, exclude={"a"}) == {}
    assert weighted_counts({}, 5) == {}


@given(
    weights=st.dictionaries(
        st.sampled_from(["a", "b", "c", "d", "e"]), st.integers(1, 100), min_size=1
    ),
    slots=st.integers(0, 200),
    exclude=st.sets(st.sampled_from(["a", "b", "c", "d", "e"])),
    seed=st.integers(0, 2**32),
)
def test_weighted_counts_fill_every_slot_from_allowed_queues(
    weights: dict[str, int], slots: int, exclude: set[str], seed: int
) -> None:
    counts = weighted_counts(weights, slots, exclude=exclude, rng=random.Random(seed))
    allowed = set(weights) - exclude
    assert set(counts) <= allowed
    assert all(n > 0 for n in counts.values())
    assert sum(counts.values()) == (slots if allowed else 0)


# -- strict -----------------------------------------------------------------------------------


def test_strict_gives_every_slot_to_the_first_non_empty_queue() -> None:
    order = ["critical", "default", "low"]
    assert strict_counts(order, 5) == {"critical": 5}
    assert strict_counts(order, 5, exclude={"critical"}) == {"default": 5}
    assert strict_counts(order, 5, exclude={"critical", "default"}) == {"low": 5}
    assert strict_counts(order, 5, exclude=set(order)) == {}
    assert strict_counts(order, 0) == {}


@given(
    order=st.lists(st.text(min_size=1, max_size=5), unique=True, max_size=6),
    exclude=st.sets(st.text(min_size=1, max_size=5)),
    slots=st.integers(1, 50),
)
def test_strict_picks_the_first_allowed_in_order(
    order: list[str], exclude: set[str], slots: int
) -> None:
    allowed = [q for q in order if q not in exclude]
    assert strict_counts(order, slots, exclude) == ({allowed[0]: slots} if allowed else {})


# -- retry delay ------------------------------------------------------------------------------


def _delays(retried: int, n: int = 200) -> list[float]:
    return [default_retry_delay(retried, ERROR, TASK).total_seconds() for _ in range(n)]


def test_retry_delay_grows_exponentially() -> None:
    medians = [statistics.median(_delays(r)) for r in range(8)]
    for r, median in enumerate(medians):
        assert 0.5 * 2**r <= median <= 2**r, (r, median)  # within the step's jitter band
    for lower, higher in itertools.pairwise(medians):
        assert 1.6 < higher / lower < 2.5  # each step about doubles


def test_retry_delay_has_jitter_in_the_upper_half_of_its_step() -> None:
    delays = _delays(4, 500)  # step 16 s
    assert len(set(delays)) > 400
    assert min(delays) >= 8
    assert max(delays) <= 16
    assert max(delays) - min(delays) > 6  # spread over most of the half-step band


def test_retry_delay_is_capped_at_one_hour() -> None:
    assert timedelta(hours=1) == CAP
    for retried in (12, 13, 20, 31, 32, 33, 1000, 10**9):
        delays = _delays(retried, 50)
        assert max(delays) <= 3600
        assert min(delays) >= 1800


@given(retried=st.integers(min_value=0, max_value=10**12))
def test_retry_delay_is_bounded_and_never_negative(retried: int) -> None:
    delay = default_retry_delay(retried, ERROR, TASK)
    step = min(3600.0, 2.0 ** min(retried, 32))
    assert timedelta(0) <= delay <= CAP
    assert step / 2 <= delay.total_seconds() <= step


@pytest.mark.parametrize("retried", [-1, -5, -(10**6)])
def test_retry_delay_of_a_negative_count_is_still_not_negative(retried: int) -> None:
    delay = default_retry_delay(retried, ERROR, TASK)
    assert timedelta(0) <= delay <= timedelta(seconds=1)
