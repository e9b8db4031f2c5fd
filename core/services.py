"""The services every adapter calls: trend, news and status, whatever the chat platform.

Adapters (Telegram, the console) parse a command, call one of these, and format the result;
nothing here knows how a reply is shown.
"""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from typing import TYPE_CHECKING

from core.analysis import TrendFacts, compute_facts
from core.analysts import Analyst, AnalystAnswer
from core.candles import SYMBOL, Candle, Interval
from core.errors import AnalystError, InputError, NoDataError
from core.metrics import RuntimeStats
from core.resilience import CircuitBreaker
from core.windows import parse_window
from storage.database import Database
from storage.repositories import (
    AnalysisCache,
    AnalysisKey,
    Gap,
    GapRepository,
    NewsRepository,
    PriceRepository,
    SourceStatus,
    SourceStatusRepository,
    StoredHeadline,
)

if TYPE_CHECKING:
    from core.digest import DigestStatus

logger = logging.getLogger(__name__)

NEWS_DEFAULT_COUNT = 5
NEWS_MAX_COUNT = 15
# Longer arguments are refused before any parsing, so a hostile one costs nothing.
ARGUMENT_MAX_CHARS = 32


def utc_now() -> datetime:
    """The present time, aware UTC; the default clock of every service."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class TrendReport:
    """A /trend answer: the computed facts, the two sentences, and where they came from.

    Attributes:
        facts: The numbers the bot computed itself.
        text: The two sentences shown to the user.
        origin: ``cache``, ``gemini`` or ``builtin``.
        analyst: Which analyst wrote the text (``gemini`` or ``builtin``).
        analyst_ms: How long the analyst took (0 for a cache hit).
        fallback_reason: Why the built-in analyst stood in for Gemini, if it did.
        data_age: How old the newest price is.
        as_of: The time of the newest price: the newest candle's close, or now while that
            candle is still open.
        stale: The newest price is older than the staleness threshold: the words describe
            that stretch of time, not the present.
        gaps: Stretches of missing candles inside the window.
    """

    facts: TrendFacts
    text: str
    origin: str
    analyst: str
    analyst_ms: float
    fallback_reason: str | None
    data_age: timedelta
    gaps: tuple[Gap, ...] = ()
    as_of: datetime | None = None
    stale: bool = False


# The analyses refreshed after new prices land, so that most /trend calls hit the cache.
COMMON_WINDOWS = ("24h", "7d", "30d")
LANGUAGES = ("en", "fr")


class TrendService:
    """Answers /trend: facts from stored candles, words from an analyst, both cached."""

    def __init__(
        self,
        database: Database,
        analyst: Analyst,
        fallback: Analyst,
        stats: RuntimeStats,
        analyst_label: str,
        clock: Callable[[], datetime] = utc_now,
        deadline_seconds: float = 20.0,
        stale_after: timedelta = timedelta(minutes=90),
    ) -> None:
        """Prepare the service.

        Args:
            database: Where candles, gaps and cached analyses live.
            analyst: The analyst asked first.
            fallback: The analyst that answers when the first one fails (the built-in one).
            stats: The counters /status shows.
            analyst_label: The first analyst and its model (``gemini:gemini-2.5-flash``):
                part of the cache key, so a new model never serves an old model's words.
            clock: The present time.
            deadline_seconds: The longest the first analyst may take, retries included;
                past it the built-in analyst answers at once.
            stale_after: Past this age, a report is flagged as describing old data.
        """
        self._analyst_label = analyst_label
        self._deadline = deadline_seconds
        self._stale_after = stale_after
        self._prices = PriceRepository(database)
        self._gaps = GapRepository(database)
        self._cache = AnalysisCache(database)
        self._analyst = analyst
        self._fallback = fallback
        self._stats = stats
        self._clock = clock

    @property
    def analyst_name(self) -> str:
        """The name of the analyst tried first."""
        return self._analyst.name

    async def trend(self, argument: str | None, language: str) -> TrendReport:
        """Analyse the window the user asked for (24 h when they named none).

        Raises:
            InputError: The argument is not a window.
            NoDataError: Too few candles are stored for that window.
        """
        window = parse_window(argument)
        candles = await self._prices.window(SYMBOL, window.interval, window.duration)
        if len(candles) < 3:
            raise NoDataError(f"only {len(candles)} candles stored for {window.label}")

        facts = compute_facts(candles, window)
        now = self._clock()
        as_of = min(facts.newest_at + window.interval.length, now)
        data_age = max(now - as_of, timedelta(0))
        stale = data_age > self._stale_after
        gaps = tuple(
            await self._gaps.overlapping(SYMBOL, window.interval, facts.oldest_at, facts.newest_at)
        )

        key = AnalysisKey(
            window.label, language, self._analyst_label, facts.newest_at, facts.last_close
        )
        cached = await self._cache.get(key)
        if cached is not None:
            self._stats.llm_cache_hits += 1
            return TrendReport(
                facts,
                cached.text,
                "cache",
                cached.analyst,
                0.0,
                None,
                data_age,
                gaps,
                as_of,
                stale,
            )

        answer, fallback_reason = await self._write(facts, candles, language)
        if fallback_reason is None:
            await self._cache.put(key, answer.text, answer.analyst)
        return TrendReport(
            facts,
            answer.text,
            answer.analyst,
            answer.analyst,
            answer.latency_s * 1000,
            fallback_reason,
            data_age,
            gaps,
            as_of,
            stale,
        )

    async def refresh(self) -> int:
        """Write the common windows' analyses in both languages ahead of the users.

        Returns:
            How many analyses were written or found in the cache.
        """
        written = 0
        for window in COMMON_WINDOWS:
            for language in LANGUAGES:
                try:
                    await self.trend(window, language)
                except NoDataError:
                    continue
                written += 1
        return written

    async def _write(
        self, facts: TrendFacts, candles: Sequence[Candle], language: str
    ) -> tuple[AnalystAnswer, str | None]:
        """Ask the analyst; on any failure, the built-in one writes from the same facts."""
        if self._analyst is self._fallback:
            return await self._fallback.analyse(facts, candles, language), None

        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._deadline):
                return await self._analyst.analyse(facts, candles, language), None
        except AnalystError as error:
            reason = error.reason
        except TimeoutError:
            reason = "deadline"

        self._stats.llm_fallbacks[reason] += 1
        logger.warning(
            "Analyst %s failed (%s) after %.0f ms; the built-in analyst answers",
            self._analyst.name,
            reason,
            (time.perf_counter() - started) * 1000,
        )
        return await self._fallback.analyse(facts, candles, language), reason


def parse_count(argument: str | None, default: int, maximum: int) -> int:
    """Read a /news count: a whole number, clamped to 1..maximum.

    Raises:
        InputError: The argument is not a whole number (code ``count_format``).
    """
    if argument is None or not argument.strip():
        return default

    text = argument.strip()
    if len(text) > ARGUMENT_MAX_CHARS:
        raise InputError("count too long", code="count_format", params={"text": text[:32]})
    digits = unicodedata.normalize("NFKC", text)
    if not digits.isascii() or not digits.lstrip("+-").isdigit():
        raise InputError("count is not a number", code="count_format", params={"text": text})
    return max(1, min(maximum, int(digits)))


class NewsService:
    """Answers /news from stored headlines, newest first, each story once."""

    def __init__(self, database: Database) -> None:
        self._news = NewsRepository(database)

    async def latest(self, argument: str | None = None) -> list[StoredHeadline]:
        """The newest headlines, as many as asked (clamped), duplicates across feeds removed.

        Two feeds can carry the same story under different keys; the same title seen twice
        is shown once (the newest copy).

        Raises:
            InputError: The argument is not a number.
        """
        count = parse_count(argument, NEWS_DEFAULT_COUNT, NEWS_MAX_COUNT)
        candidates = await self._news.latest(count * 3)

        shown: list[StoredHeadline] = []
        seen_titles: set[str] = set()
        for item in candidates:
            title = " ".join(item.headline.title.casefold().split())
            if title in seen_titles:
                continue
            seen_titles.add(title)
            shown.append(item)
            if len(shown) == count:
                break
        return shown


@dataclass(frozen=True, slots=True)
class StatusReport:
    """What /status shows an admin."""

    now: datetime
    uptime: timedelta
    database_kind: str
    price_rows: int
    news_rows: int
    newest_candle_at: datetime | None
    newest_headline_at: datetime | None
    analyst: str
    stats: RuntimeStats
    sources: list[SourceStatus]
    gaps: list[Gap]
    llm_resting_until: datetime | None = None
    version: str = "unknown"
    database_bytes: int | None = None
    stale_after: timedelta = timedelta(minutes=90)
    jobs: tuple[tuple[str, datetime | None], ...] = ()
    digest: DigestStatus | None = None

    def is_stale(self, newest: datetime | None) -> bool:
        """Whether data as old as ``newest`` is older than the staleness threshold."""
        return newest is None or self.now - newest > self.stale_after


class StatusService:
    """Answers /status: health, freshness, language-model use and handler speed."""

    def __init__(
        self,
        database: Database,
        stats: RuntimeStats,
        analyst_name: str,
        clock: Callable[[], datetime] = utc_now,
        circuit: CircuitBreaker | None = None,
        stale_after: timedelta = timedelta(minutes=90),
        digest_status: Callable[[], Awaitable[DigestStatus]] | None = None,
    ) -> None:
        self._stale_after = stale_after
        self._circuit = circuit
        self._database = database
        self._digest_status = digest_status
        self._prices = PriceRepository(database)
        self._news = NewsRepository(database)
        self._sources = SourceStatusRepository(database)
        self._gaps = GapRepository(database)
        self._stats = stats
        self._analyst_name = analyst_name
        self._clock = clock

    async def status(self) -> StatusReport:
        """Gather the numbers; each query is its own short read."""
        now = self._clock()
        newest_candle = await self._prices.newest_time(SYMBOL, Interval.HOUR)
        newest_news = await self._news.latest(1)
        return StatusReport(
            now=now,
            uptime=now - self._stats.started_at,
            database_kind=self._database.kind,
            price_rows=await self._prices.count(),
            news_rows=await self._news.count(),
            newest_candle_at=(
                min(newest_candle + Interval.HOUR.length, now) if newest_candle else None
            ),
            newest_headline_at=min(newest_news[0].shown_at, now) if newest_news else None,
            analyst=self._analyst_name,
            stats=self._stats,
            sources=await self._sources.all(),
            gaps=await self._gaps.overlapping(
                SYMBOL, Interval.HOUR, now - timedelta(days=365), now
            ),
            llm_resting_until=self._circuit.open_until if self._circuit else None,
            version=_version(),
            database_bytes=await self._database.size_bytes(),
            stale_after=self._stale_after,
            digest=await self._digest_status() if self._digest_status is not None else None,
        )


def _version() -> str:
    """The installed package's version, or ``unknown`` when run from a bare checkout."""
    try:
        return metadata.version("bitcoin-analyzer")
    except metadata.PackageNotFoundError:
        return "unknown"
