"""Ingestion: one pass over the price providers and the feeds, stored once and accounted for.

A price pass asks the provider pool for the candles since the newest stored one, for hourly
and daily candles alike, and upserts them: the candle still open is updated, never doubled.
After downtime it backfills the gap, but never further back than ``BACKFILL_LIMIT``; what
stays missing is recorded as a gap, which /status shows and /trend mentions.

A news pass downloads every feed at once and stores the stories not stored yet.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from core.candles import SYMBOL, Interval, describe_rejections
from core.errors import SourceError
from core.sources.feeds import fetch_feeds
from core.sources.pool import ProviderPool
from storage.database import Database
from storage.repositories import (
    GapRepository,
    NewsRepository,
    PriceRepository,
    SourceStatusRepository,
)

logger = logging.getLogger(__name__)

# How far back a pass fills a hole: one provider request's worth (Kraken gives 720 candles).
BACKFILL_LIMIT = {Interval.HOUR: timedelta(days=30), Interval.DAY: timedelta(days=720)}


@dataclass
class SourceReport:
    """What one source gave in one pass."""

    name: str
    kind: str
    stored: int = 0
    new: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    error: str | None = None

    def summary(self) -> str:
        """One line for the command line."""
        if self.error:
            return f"{self.kind} {self.name}: failed: {self.error}"
        line = (
            f"{self.kind} {self.name}: {self.stored} stored, {self.new} new, "
            f"{self.stored - self.new} already known"
        )
        if self.rejected:
            line += ", " + describe_rejections(self.rejected)
        return line


def floor_time(moment: datetime, interval: Interval) -> datetime:
    """The opening time of the candle that holds ``moment``."""
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if interval is Interval.DAY else moment


class PriceIngestor:
    """Fetches new candles through the provider pool and stores them."""

    def __init__(
        self,
        pool: ProviderPool,
        database: Database,
        clock: Callable[[], datetime],
        intervals: Sequence[Interval] = (Interval.HOUR, Interval.DAY),
    ) -> None:
        self._pool = pool
        self._prices = PriceRepository(database)
        self._gaps = GapRepository(database)
        self._status = SourceStatusRepository(database)
        self._clock = clock
        self._intervals = intervals

    async def run(self) -> list[SourceReport]:
        """One pass for every interval; a failing interval never stops the next one."""
        reports = []
        for interval in self._intervals:
            reports.append(await self._ingest(interval))
        return reports

    async def _ingest(self, interval: Interval) -> SourceReport:
        started = self._clock()
        newest = await self._prices.newest_time(SYMBOL, interval)
        backfill_floor = floor_time(started - BACKFILL_LIMIT[interval], interval)
        # Ask again for the newest stored candle: it may have been open when it was stored.
        since = newest if newest is not None and newest >= backfill_floor else backfill_floor

        try:
            answer = await self._pool.fetch(interval, since)
        except SourceError as error:
            await self._record_provider_failures(started)
            return SourceReport(
                name=f"all providers ({interval})", kind="prices", error=str(error)
            )

        before = await self._prices.count()
        stored = await self._prices.upsert(answer.candles)
        new = await self._prices.count() - before
        await self._record_provider_failures(started)
        await self._status.record_success(answer.source, "prices", new, started)

        if answer.candles:
            scan_from = newest + interval.length if newest is not None else since
            await self._record_gaps(interval, scan_from, answer.candles[-1].opened_at)
        return SourceReport(
            name=f"{answer.source} ({interval})",
            kind="prices",
            stored=stored,
            new=new,
            rejected=Counter(answer.rejected),
        )

    async def _record_gaps(self, interval: Interval, start: datetime, end: datetime) -> None:
        if start > end:
            return
        gaps = await self._gaps.scan(SYMBOL, interval, start, end)
        for gap in gaps:
            logger.warning(
                "Gap in %s candles: %d missing from %s to %s",
                interval,
                gap.missing,
                gap.starts_at.isoformat(),
                gap.ends_at.isoformat(),
            )

    async def _record_provider_failures(self, since: datetime) -> None:
        """Persist the errors the pool met during this pass, for /status after a restart."""
        for provider in self._pool.snapshot():
            if provider.last_failure_at is not None and provider.last_failure_at >= since:
                await self._status.record_failure(
                    provider.name,
                    "prices",
                    provider.last_error or "failed",
                    provider.last_failure_at,
                )


class NewsIngestor:
    """Downloads every feed and stores the stories not stored yet."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        feeds: Sequence[tuple[str, str]],
        database: Database,
        clock: Callable[[], datetime],
        *,
        max_bytes: int,
        timeout_seconds: float,
    ) -> None:
        self._client = client
        self._feeds = feeds
        self._news = NewsRepository(database)
        self._status = SourceStatusRepository(database)
        self._clock = clock
        self._max_bytes = max_bytes
        self._timeout = timeout_seconds

    async def run(self) -> list[SourceReport]:
        """One pass over every feed at once; a broken feed is reported, never fatal."""
        started = self._clock()
        outcome = await fetch_feeds(
            self._client, self._feeds, max_bytes=self._max_bytes, timeout=self._timeout
        )

        reports = []
        for result in outcome.results:
            if result.parse is None:
                error = str(result.error) if result.error else "failed"
                await self._status.record_failure(result.name, "news", error, started)
                reports.append(SourceReport(name=result.name, kind="news", error=error))
                continue

            new = await self._news.add(result.parse.headlines, seen_at=started)
            await self._status.record_success(result.name, "news", new, started)
            rejected: Counter[str] = Counter()
            if result.parse.dropped:
                rejected["no_title"] = result.parse.dropped
            reports.append(
                SourceReport(
                    name=result.name,
                    kind="news",
                    stored=len(result.parse.headlines),
                    new=new,
                    rejected=rejected,
                )
            )
        return reports
