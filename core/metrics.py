"""Counters and latencies kept in memory since start, for /status."""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Enough samples for stable percentiles, small enough to cost nothing.
LATENCY_SAMPLES = 2000


def percentile(samples: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of ``samples`` (``fraction`` in 0..1), or None if empty."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class LatencyTracker:
    """The most recent latencies of one kind of work, in milliseconds."""

    samples: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))

    def add(self, milliseconds: float) -> None:
        """Record one latency."""
        self.samples.append(milliseconds)

    def p50(self) -> float | None:
        """The median of the recent latencies."""
        return percentile(list(self.samples), 0.50)

    def p95(self) -> float | None:
        """The 95th percentile of the recent latencies."""
        return percentile(list(self.samples), 0.95)


@dataclass
class RuntimeStats:
    """What happened since start: updates, outcomes, latencies and the language model's use.

    Note:
        These numbers live in the process's memory: a restart sets them back to zero, and
        each replica counts its own.
    """

    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updates: Counter[tuple[str, str]] = field(default_factory=Counter)
    handler_latency: defaultdict[str, LatencyTracker] = field(
        default_factory=lambda: defaultdict(LatencyTracker)
    )
    llm_calls: int = 0
    llm_failures: Counter[str] = field(default_factory=Counter)
    llm_cache_hits: int = 0
    llm_fallbacks: Counter[str] = field(default_factory=Counter)
    llm_tokens_in: int = 0
    llm_tokens_out: int = 0
    llm_latency: LatencyTracker = field(default_factory=LatencyTracker)

    def record_update(self, command: str, outcome: str, milliseconds: float) -> None:
        """Count one handled command and its latency."""
        self.updates[(command, outcome)] += 1
        self.handler_latency[command].add(milliseconds)

    @property
    def errors(self) -> int:
        """Updates that ended in an error."""
        return sum(count for (_, outcome), count in self.updates.items() if outcome == "error")

    @property
    def handled(self) -> int:
        """Every update handled since start."""
        return sum(self.updates.values())
