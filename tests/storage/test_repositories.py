"""The repositories on a real file-based SQLite database."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from core.candles import SYMBOL, Candle, Interval
from core.headlines import Headline
from storage.database import Database
from storage.repositories import AnalysisCache, AnalysisKey, NewsRepository, PriceRepository

START = datetime(2025, 11, 20, tzinfo=UTC)


def hourly(hour: int, close: float, source: str = "test") -> Candle:
    return Candle(
        SYMBOL,
        Interval.HOUR,
        START + timedelta(hours=hour),
        close,
        close + 10,
        close - 10,
        close,
        1.5,
        source,
    )


async def test_upsert_updates_the_open_candle_instead_of_adding_a_row(database: Database) -> None:
    prices = PriceRepository(database)

    await prices.upsert([hourly(0, 100.0), hourly(1, 101.0)])
    await prices.upsert([hourly(1, 105.0, source="kraken")])

    stored = await prices.window(SYMBOL, Interval.HOUR, timedelta(hours=5))
    assert await prices.count() == 2
    assert [(candle.close, candle.source) for candle in stored] == [
        (100.0, "test"),
        (105.0, "kraken"),
    ]


async def test_window_is_measured_back_from_the_newest_candle_and_includes_its_start(
    database: Database,
) -> None:
    prices = PriceRepository(database)
    await prices.upsert(hourly(hour, 100.0 + hour) for hour in range(48))

    window = await prices.window(SYMBOL, Interval.HOUR, timedelta(hours=24))

    assert len(window) == 25
    assert window[0].opened_at == START + timedelta(hours=23)
    assert window[-1].opened_at == START + timedelta(hours=47)
    assert window[-1].opened_at.tzinfo is UTC


async def test_newest_time_is_aware_utc_and_none_when_empty(database: Database) -> None:
    prices = PriceRepository(database)
    assert await prices.newest_time(SYMBOL, Interval.DAY) is None

    await prices.upsert([hourly(3, 100.0)])

    assert await prices.newest_time(SYMBOL, Interval.HOUR) == START + timedelta(hours=3)


async def test_news_are_stored_once_and_keep_their_first_seen_time(database: Database) -> None:
    news = NewsRepository(database)
    dated = Headline("g:1", "Dated story", "https://example.org/a", "feed", START)
    undated = Headline("l:example.org/b", "Undated story", "https://example.org/b", "feed", None)
    first_seen = START + timedelta(days=1)

    first = await news.add([dated, undated], seen_at=first_seen)
    second = await news.add([dated, undated], seen_at=first_seen + timedelta(hours=1))

    latest = await news.latest(10)
    assert (first, second) == (2, 0)
    assert [item.headline.title for item in latest] == ["Undated story", "Dated story"]
    assert latest[0].shown_at == first_seen
    assert latest[1].shown_at == START


async def test_analysis_cache_returns_what_was_put_and_tolerates_a_second_writer(
    database: Database,
) -> None:
    cache = AnalysisCache(database)
    key = AnalysisKey("24h", "en", "builtin", START + timedelta(hours=5), 84697.25)

    await asyncio.gather(
        cache.put(key, "First.", "builtin"),
        cache.put(key, "Second.", "builtin"),
    )

    cached = await cache.get(key)
    assert cached is not None
    assert cached.text in {"First.", "Second."}
    assert await cache.get(replace(key, language="fr")) is None
    assert await cache.get(replace(key, newest_at=key.newest_at + timedelta(hours=1))) is None


async def test_a_moved_close_of_the_same_candle_misses_the_cache(database: Database) -> None:
    # The open candle's close moves between passes: words written for the old close must
    # not be served beside the new figures.
    cache = AnalysisCache(database)
    key = AnalysisKey("6h", "en", "builtin", START, 80000.0)
    await cache.put(key, "Bitcoin went down.", "builtin")

    assert await cache.get(replace(key, newest_close=99000.0)) is None
