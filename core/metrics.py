"""Counters and latencies kept in memory since start, for /status and Prometheus."""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

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
    llm_tokens_by_day: Counter[tuple[date, str]] = field(default_factory=Counter)
    llm_latency: LatencyTracker = field(default_factory=LatencyTracker)
    ingested_rows: Counter[str] = field(default_factory=Counter)
    ingestion_errors: Counter[str] = field(default_factory=Counter)
    digest_sends: Counter[str] = field(default_factory=Counter)
    data_age_seconds: dict[str, float] = field(default_factory=dict)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self._handler_seconds = Histogram(
            "bitcoin_analyzer_handler_latency_seconds",
            "Time from receiving a command to the last reply sent.",
            ["command"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20),
            registry=self.registry,
        )
        self.registry.register(_StatsCollector(self))

    def record_update(self, command: str, outcome: str, milliseconds: float) -> None:
        """Count one handled command and its latency."""
        self.updates[(command, outcome)] += 1
        self.handler_latency[command].add(milliseconds)
        self._handler_seconds.labels(command=command).observe(milliseconds / 1000)

    def record_tokens(self, tokens_in: int, tokens_out: int, today: date) -> None:
        """Count the tokens of one model answer, in total and for its UTC day."""
        self.llm_tokens_in += tokens_in
        self.llm_tokens_out += tokens_out
        self.llm_tokens_by_day[(today, "in")] += tokens_in
        self.llm_tokens_by_day[(today, "out")] += tokens_out

    @property
    def errors(self) -> int:
        """Updates that ended in an error."""
        return sum(count for (_, outcome), count in self.updates.items() if outcome == "error")

    @property
    def handled(self) -> int:
        """Every update handled since start."""
        return sum(self.updates.values())


class _StatsCollector(Collector):
    """Reads ``RuntimeStats`` at scrape time, so every count is kept in one place only."""

    def __init__(self, stats: RuntimeStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        """Yield one metric family per counter of the stats."""
        stats = self._stats
        prefix = "bitcoin_analyzer"

        updates = CounterMetricFamily(
            f"{prefix}_updates",
            "Commands handled, by command and outcome.",
            labels=["command", "outcome"],
        )
        for (command, outcome), count in stats.updates.items():
            updates.add_metric([command, outcome], count)
        yield updates

        yield CounterMetricFamily(
            f"{prefix}_gemini_calls", "Requests sent to Gemini.", value=stats.llm_calls
        )
        yield CounterMetricFamily(
            f"{prefix}_gemini_cache_hits",
            "Analyses served from the cache.",
            value=stats.llm_cache_hits,
        )
        yield _labelled(
            f"{prefix}_gemini_failures",
            "Failed Gemini requests, by reason.",
            "reason",
            stats.llm_failures,
        )
        yield _labelled(
            f"{prefix}_gemini_fallbacks",
            "Answers the built-in analyst wrote, by reason.",
            "reason",
            stats.llm_fallbacks,
        )
        yield _labelled(
            f"{prefix}_gemini_tokens",
            "Gemini tokens, by direction.",
            "direction",
            Counter({"in": stats.llm_tokens_in, "out": stats.llm_tokens_out}),
        )
        yield _labelled(
            f"{prefix}_ingested_rows",
            "New rows stored by ingestion, by source.",
            "source",
            stats.ingested_rows,
        )
        yield _labelled(
            f"{prefix}_ingestion_errors",
            "Failed ingestion requests, by source.",
            "source",
            stats.ingestion_errors,
        )
        yield _labelled(
            f"{prefix}_digest_sends",
            "Digest messages, by outcome.",
            "outcome",
            stats.digest_sends,
        )

        ages = GaugeMetricFamily(
            f"{prefix}_data_age_seconds",
            "Age of the newest stored item, by kind.",
            labels=["kind"],
        )
        for kind, seconds in stats.data_age_seconds.items():
            ages.add_metric([kind], seconds)
        yield ages


def _labelled(
    name: str, documentation: str, label: str, counts: Counter[str]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family
