"""Repositories: every read and write the bot makes, each one its own unit of work."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from core.candles import Candle, Interval
from core.errors import StorageError
from core.headlines import Headline
from storage.database import Database
from storage.models import (
    AnalysisRow,
    Base,
    DataGapRow,
    JobLeaseRow,
    NewsRow,
    PriceRow,
    SourceStatusRow,
)

logger = logging.getLogger(__name__)

# SQLite allows 32,766 bound parameters in one statement; ten columns a row stays far below.
UPSERT_BATCH_ROWS = 1000


def _insert(session: AsyncSession, table: type[Base]) -> Any:
    """Return the dialect's INSERT, which knows ON CONFLICT on SQLite and PostgreSQL alike."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PriceRepository:
    """Candles, one row per symbol, interval and opening time."""

    def __init__(self, database: Database) -> None:
        self._sessions = database.sessions

    async def upsert(self, candles: Iterable[Candle]) -> int:
        """Insert candles, or update those already stored (an open candle keeps moving).

        Returns:
            How many candles were written.
        """
        rows = [
            {
                "symbol": candle.symbol,
                "interval": str(candle.interval),
                "opened_at": candle.opened_at,
                "open": candle.open,
                "high": candle.high,
                "low": candle.low,
                "close": candle.close,
                "volume": candle.volume,
                "source": candle.source,
                "updated_at": _utc_now(),
            }
            for candle in candles
        ]
        if not rows:
            return 0

        async with self._sessions.begin() as session:
            for start in range(0, len(rows), UPSERT_BATCH_ROWS):
                statement = _insert(session, PriceRow).values(
                    rows[start : start + UPSERT_BATCH_ROWS]
                )
                changing = ("open", "high", "low", "close", "volume", "source", "updated_at")
                statement = statement.on_conflict_do_update(
                    index_elements=["symbol", "interval", "opened_at"],
                    set_={name: statement.excluded[name] for name in changing},
                )
                await session.execute(statement)
        return len(rows)

    async def newest_time(self, symbol: str, interval: Interval) -> datetime | None:
        """The opening time of the newest stored candle, or None when there is none."""
        async with self._sessions() as session:
            statement = select(func.max(PriceRow.opened_at)).where(
                PriceRow.symbol == symbol, PriceRow.interval == str(interval)
            )
            newest = await session.scalar(statement)
        if newest is not None and newest.tzinfo is None:
            # func.max bypasses the column type on SQLite and returns the raw value.
            newest = newest.replace(tzinfo=UTC)
        return newest

    async def window(self, symbol: str, interval: Interval, length: timedelta) -> list[Candle]:
        """The candles of the window that ends with the newest stored one, oldest first.

        The candle that opened exactly ``length`` before the newest one is included, so a 24 h
        window of hourly candles holds 25 closes, 24 hours apart from first to last.
        """
        newest = await self.newest_time(symbol, interval)
        if newest is None:
            return []

        async with self._sessions() as session:
            statement = (
                select(PriceRow)
                .where(
                    PriceRow.symbol == symbol,
                    PriceRow.interval == str(interval),
                    PriceRow.opened_at >= newest - length,
                )
                .order_by(PriceRow.opened_at)
            )
            rows = (await session.scalars(statement)).all()
        return [_candle_from_row(row) for row in rows]

    async def count(self) -> int:
        """How many candles are stored, every interval included."""
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(PriceRow)) or 0)


def _candle_from_row(row: PriceRow) -> Candle:
    return Candle(
        symbol=row.symbol,
        interval=Interval(row.interval),
        opened_at=row.opened_at,
        open=row.open,
        high=row.high,
        low=row.low,
        close=row.close,
        volume=row.volume,
        source=row.source,
    )


@dataclass(frozen=True, slots=True)
class StoredHeadline:
    """A headline as stored, with the time we first saw it."""

    headline: Headline
    first_seen_at: datetime

    @property
    def shown_at(self) -> datetime:
        """The time to show and sort by: published, else first seen."""
        return self.headline.published_at or self.first_seen_at


class NewsRepository:
    """Headlines, each story stored once under its key."""

    def __init__(self, database: Database) -> None:
        self._sessions = database.sessions

    async def add(self, headlines: Sequence[Headline], seen_at: datetime | None = None) -> int:
        """Store the stories not stored yet; a known key keeps its first version untouched.

        Keeping the first version means an undated story keeps its first-seen time, and is
        never announced as new again.

        Returns:
            How many stories were new.
        """
        if not headlines:
            return 0

        seen_at = seen_at or _utc_now()
        unique = {headline.key: headline for headline in reversed(headlines)}
        rows = [
            {
                "key": headline.key,
                "title": headline.title,
                "summary": headline.summary,
                "link": headline.link,
                "source": headline.source,
                "published_at": headline.published_at,
                "first_seen_at": seen_at,
                "sort_at": headline.published_at or seen_at,
            }
            for headline in unique.values()
        ]

        async with self._sessions.begin() as session:
            known = set(await session.scalars(select(NewsRow.key).where(NewsRow.key.in_(unique))))
            statement = (
                _insert(session, NewsRow)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["key"])
            )
            await session.execute(statement)
        return len(unique.keys() - known)

    async def latest(self, limit: int) -> list[StoredHeadline]:
        """The newest stories first, by published time, else first-seen time."""
        async with self._sessions() as session:
            statement = select(NewsRow).order_by(NewsRow.sort_at.desc()).limit(limit)
            rows = (await session.scalars(statement)).all()
        return [
            StoredHeadline(
                headline=Headline(
                    key=row.key,
                    title=row.title,
                    link=row.link,
                    source=row.source,
                    published_at=row.published_at,
                    summary=row.summary,
                ),
                first_seen_at=row.first_seen_at,
            )
            for row in rows
        ]

    async def count(self) -> int:
        """How many stories are stored."""
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(NewsRow)) or 0)


@dataclass(frozen=True, slots=True)
class CachedAnalysis:
    """An analysis written earlier for the same window, language, model and data."""

    text: str
    analyst: str
    created_at: datetime


class AnalysisCache:
    """Written analyses, so that unchanged data never costs a second model call."""

    def __init__(self, database: Database) -> None:
        self._sessions = database.sessions

    async def get(
        self, window: str, language: str, model: str, newest_at: datetime
    ) -> CachedAnalysis | None:
        """The analysis stored under this key, or None."""
        async with self._sessions() as session:
            row = await session.get(AnalysisRow, (window, language, model, newest_at))
        if row is None:
            return None
        return CachedAnalysis(text=row.text, analyst=row.analyst, created_at=row.created_at)

    async def put(
        self, window: str, language: str, model: str, newest_at: datetime, text: str, analyst: str
    ) -> None:
        """Store an analysis; a concurrent writer of the same key wins without an error."""
        row = {
            "window": window,
            "language": language,
            "model": model,
            "newest_at": newest_at,
            "text": text,
            "analyst": analyst,
            "created_at": _utc_now(),
        }
        async with self._sessions.begin() as session:
            statement = _insert(session, AnalysisRow).values(row).on_conflict_do_nothing()
            await session.execute(statement)


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """How one price provider or feed last went."""

    name: str
    kind: str
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    rows_stored: int


class SourceStatusRepository:
    """The last success and the last error of each source, kept across restarts."""

    def __init__(self, database: Database) -> None:
        self._sessions = database.sessions

    async def record_success(self, name: str, kind: str, rows: int, at: datetime) -> None:
        """Note that ``name`` answered at ``at`` and that ``rows`` of its rows were stored."""
        async with self._sessions.begin() as session:
            statement = _insert(session, SourceStatusRow).values(
                name=name, kind=kind, last_success_at=at, rows_stored=rows
            )
            statement = statement.on_conflict_do_update(
                index_elements=["name"],
                set_={
                    "kind": kind,
                    "last_success_at": at,
                    "rows_stored": SourceStatusRow.rows_stored + rows,
                },
            )
            await session.execute(statement)

    async def record_failure(self, name: str, kind: str, error: str, at: datetime) -> None:
        """Note that ``name`` failed at ``at``, and why (the text is cut to 300 characters)."""
        error = error[:300]
        async with self._sessions.begin() as session:
            statement = _insert(session, SourceStatusRow).values(
                name=name, kind=kind, last_error_at=at, last_error=error, rows_stored=0
            )
            statement = statement.on_conflict_do_update(
                index_elements=["name"],
                set_={"kind": kind, "last_error_at": at, "last_error": error},
            )
            await session.execute(statement)

    async def all(self) -> list[SourceStatus]:
        """Every source's status, prices first, then by name."""
        async with self._sessions() as session:
            rows = (
                await session.scalars(
                    select(SourceStatusRow).order_by(
                        SourceStatusRow.kind.desc(), SourceStatusRow.name
                    )
                )
            ).all()
        return [
            SourceStatus(
                row.name,
                row.kind,
                row.last_success_at,
                row.last_error_at,
                row.last_error,
                row.rows_stored,
            )
            for row in rows
        ]


@dataclass(frozen=True, slots=True)
class Gap:
    """Candles missing from ``starts_at`` to ``ends_at``, both included."""

    interval: Interval
    starts_at: datetime
    ends_at: datetime

    @property
    def missing(self) -> int:
        """How many candles are missing."""
        return int((self.ends_at - self.starts_at) / self.interval.length) + 1


class GapRepository:
    """Holes in the stored series that the collector could not fill."""

    def __init__(self, database: Database) -> None:
        self._sessions = database.sessions

    async def scan(
        self, symbol: str, interval: Interval, start: datetime, end: datetime
    ) -> list[Gap]:
        """Find the holes between ``start`` and ``end`` and record them in place of old ones.

        Gaps recorded earlier inside the scanned stretch are replaced, so a hole that was
        filled since (by another provider, say) disappears.
        """
        async with self._sessions.begin() as session:
            stored = set(
                await session.scalars(
                    select(PriceRow.opened_at).where(
                        PriceRow.symbol == symbol,
                        PriceRow.interval == str(interval),
                        PriceRow.opened_at >= start,
                        PriceRow.opened_at <= end,
                    )
                )
            )
            gaps = _holes(stored, interval, start, end)

            await session.execute(
                delete(DataGapRow).where(
                    DataGapRow.symbol == symbol,
                    DataGapRow.interval == str(interval),
                    DataGapRow.starts_at >= start,
                    DataGapRow.starts_at <= end,
                )
            )
            if gaps:
                now = _utc_now()
                await session.execute(
                    _insert(session, DataGapRow)
                    .values(
                        [
                            {
                                "symbol": symbol,
                                "interval": str(interval),
                                "starts_at": gap.starts_at,
                                "ends_at": gap.ends_at,
                                "recorded_at": now,
                            }
                            for gap in gaps
                        ]
                    )
                    .on_conflict_do_nothing()
                )
        return gaps

    async def overlapping(
        self, symbol: str, interval: Interval, start: datetime, end: datetime
    ) -> list[Gap]:
        """The recorded gaps that touch the stretch from ``start`` to ``end``."""
        async with self._sessions() as session:
            rows = (
                await session.scalars(
                    select(DataGapRow)
                    .where(
                        DataGapRow.symbol == symbol,
                        DataGapRow.interval == str(interval),
                        DataGapRow.starts_at <= end,
                        DataGapRow.ends_at >= start,
                    )
                    .order_by(DataGapRow.starts_at)
                )
            ).all()
        return [Gap(Interval(row.interval), row.starts_at, row.ends_at) for row in rows]


def _holes(stored: set[datetime], interval: Interval, start: datetime, end: datetime) -> list[Gap]:
    """The runs of candle times between ``start`` and ``end`` that are not in ``stored``."""
    gaps: list[Gap] = []
    step = interval.length
    hole_start: datetime | None = None
    moment = start
    while moment <= end:
        if moment not in stored and hole_start is None:
            hole_start = moment
        if moment in stored and hole_start is not None:
            gaps.append(Gap(interval, hole_start, moment - step))
            hole_start = None
        moment += step
    if hole_start is not None:
        gaps.append(Gap(interval, hole_start, end))
    return gaps


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a job's lease, since when and until when."""

    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime


class LeaseRepository:
    """The ``job_leases`` rows: each statement decides alone, so two replicas never both win.

    Every method raises :class:`~core.errors.StorageError` when the database fails.
    """

    def __init__(self, database: Database) -> None:
        self._sessions = database.sessions

    async def try_acquire(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """Take the lease if it is free, expired, or already ours; say whether we hold it.

        One INSERT ... ON CONFLICT DO UPDATE ... WHERE decides, so the database settles a race
        between replicas: the row is written for exactly one of them.
        """
        try:
            async with self._sessions.begin() as session:
                statement = _insert(session, JobLeaseRow).values(
                    name=name, holder=holder, acquired_at=now, expires_at=until
                )
                statement = statement.on_conflict_do_update(
                    index_elements=["name"],
                    set_={"holder": holder, "acquired_at": now, "expires_at": until},
                    where=(JobLeaseRow.expires_at <= now) | (JobLeaseRow.holder == holder),
                ).returning(JobLeaseRow.holder)
                written = (await session.execute(statement)).scalar_one_or_none()
        except SQLAlchemyError as error:
            raise StorageError(
                f"could not take the lease {name}: {type(error).__name__}"
            ) from error
        return written == holder

    async def extend(self, name: str, holder: str, until: datetime) -> bool:
        """Move our lease's expiry to ``until``; False when the lease is no longer ours."""
        try:
            async with self._sessions.begin() as session:
                result = await session.execute(
                    update(JobLeaseRow)
                    .where(JobLeaseRow.name == name, JobLeaseRow.holder == holder)
                    .values(expires_at=until)
                    .returning(JobLeaseRow.name)
                )
                extended = result.scalar_one_or_none() is not None
        except SQLAlchemyError as error:
            raise StorageError(
                f"could not extend the lease {name}: {type(error).__name__}"
            ) from error
        return extended

    async def get(self, name: str) -> Lease | None:
        """The lease on ``name`` as stored, expired or not; None when never taken."""
        try:
            async with self._sessions() as session:
                row = await session.get(JobLeaseRow, name)
        except SQLAlchemyError as error:
            raise StorageError(
                f"could not read the lease {name}: {type(error).__name__}"
            ) from error
        if row is None:
            return None
        return Lease(row.name, row.holder, row.acquired_at, row.expires_at)
