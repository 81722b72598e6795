"""Which queues the free slots are filled from: pure functions, no Redis.

Weighted mode draws a queue for every free slot, with probability weight / total among the
queues not known to be empty, so a queue's share holds per task, not per batch, and a queue
with weight 1 is never starved. Strict mode fills slots from the first non-empty queue in order.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Set


def weighted_counts(
    weights: Mapping[str, int],
    slots: int,
    exclude: Set[str] = frozenset(),
    rng: random.Random | None = None,
) -> dict[str, int]:
    """Draw a queue for each of ``slots`` slots; returns how many slots each queue got."""
    names = [q for q in weights if q not in exclude]
    if not names or slots <= 0:
        return {}
    draw = (rng or random).choices(names, weights=[weights[q] for q in names], k=slots)
    return dict(Counter(draw))


def strict_counts(order: list[str], slots: int, exclude: Set[str] = frozenset()) -> dict[str, int]:
    """All slots to the first queue not known to be empty."""
    for name in order:
        if name not in exclude:
            return {name: slots} if slots > 0 else {}
    return {}
