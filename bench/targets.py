"""tandemq's performance targets, each checked against this run's numbers."""

from __future__ import annotations

from dataclasses import dataclass

Results = dict[str, dict[str, dict[str, float | None]]]
SUBJECT = "tandemq"


@dataclass(frozen=True)
class Target:
    name: str
    actual: float | None
    goal: float | None
    higher_is_better: bool
    basis: str  # what the goal was derived from, for the report

    def status(self) -> str:
        if self.actual is None or self.goal is None:
            return "not measured"
        if self.higher_is_better:
            short = (self.goal - self.actual) / self.goal
        else:
            short = (self.actual - self.goal) / self.goal
        return "met" if short <= 0 else f"missed by {short * 100:.0f}%"


def value(results: Results, lib: str, key: str, field: str = "value") -> float | None:
    return results.get(lib, {}).get(key, {}).get(field)


def best_peer(results: Results, key: str, field: str, highest: bool) -> tuple[str, float | None]:
    """The best peer's name and number for one column ("-" and None when no peer has it)."""
    found = [
        (v, lib)
        for lib in results
        if lib != SUBJECT and (v := value(results, lib, key, field)) is not None
    ]
    if not found:
        return "-", None
    v, lib = max(found) if highest else min(found)
    return lib, v


def _scaled(x: float | None, factor: float) -> float | None:
    return None if x is None else x * factor


def _vs_peer(
    results: Results, name: str, key: str, field: str, factor: float, peer_key: str = ""
) -> Target:
    higher = field == "value" and key != "memory"
    lib, best = best_peer(results, peer_key or key, field, highest=higher)
    basis = f"best peer {lib}: {fmt(best)}"
    return Target(name, value(results, SUBJECT, key, field), _scaled(best, factor), higher, basis)


def _vs_own(results: Results, name: str, key: str, base_key: str, factor: float) -> Target:
    base = value(results, SUBJECT, base_key)
    actual = value(results, SUBJECT, key)
    return Target(name, actual, _scaled(base, factor), True, f"tandemq {base_key}: {fmt(base)}")


def evaluate(results: Results) -> list[Target]:
    bulk = value(results, SUBJECT, "enqueue_bulk")
    return [
        _vs_peer(results, "processed/s >= 5x best peer", "process", "value", 5),
        _vs_own(results, "2 workers ~2x one worker (>= 1.8x)", "process2", "process", 1.8),
        _vs_peer(results, "sequential enqueue >= 1.5x best peer", "enqueue_seq", "value", 1.5),
        _vs_peer(
            results,
            "100 senders >= 5x best peer's sequential",
            "enqueue_conc",
            "value",
            5,
            peer_key="enqueue_seq",
        ),
        Target("send_many > 100,000/s", bulk, 100_000, True, "absolute"),
        _vs_peer(results, "latency p50 below best peer", "latency", "p50", 1),
        _vs_peer(results, "latency p99 below best peer", "latency", "p99", 1),
        _vs_peer(results, "bytes per pending <= leanest peer", "memory", "value", 1),
        _vs_own(results, "1M pending: rate within 10% of 20k", "scale_1m", "scale_base", 0.9),
        _vs_own(
            results, "100k scheduled: rate within 10% of 20k", "scale_sched", "scale_base", 0.9
        ),
    ]


def fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}"
