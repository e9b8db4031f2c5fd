"""Ingestion passes against local servers replaying real bodies, stored in real SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from core.candles import SYMBOL, Interval
from core.ingestion import NewsIngestor, PriceIngestor
from core.sources.pool import ProviderPool
from storage.database import Database
from storage.repositories import (
    GapRepository,
    NewsRepository,
    PriceRepository,
    SourceStatusRepository,
)
from tests.support.clock import FakeClock
from tests.support.providers import make_pool
from tests.support.scripted_server import Scripted, ScriptedServer

KRAKEN_PATH = "/0/public/OHLC"
BINANCE_PATH = "/api/v3/klines"
COINGECKO_PATH = "/api/v3/coins/bitcoin/market_chart/range"
KRAKEN_OHLC = "api/exchanges/kraken_ohlc_xbtusd_1h_trimmed.json"
# Kraken's recorded answer: 24 candles from 2026-08-09 23:00, then 4 from 2026-09-08 20:00,
# the last one still forming; the copy was trimmed in the middle, which leaves a real hole.
KRAKEN_NOW = datetime(2026, 9, 8, 23, 20, tzinfo=UTC)


def price_ingestor(
    database: Database, client: httpx.AsyncClient, server: ScriptedServer, clock: FakeClock
) -> tuple[PriceIngestor, ProviderPool]:
    pool = make_pool(client, server, clock)
    return PriceIngestor(pool, database, clock, intervals=(Interval.HOUR,)), pool


async def test_failover_stores_krakens_candles_once_and_records_every_source(
    database: Database, scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        COINGECKO_PATH,
        Scripted(
            status=429,
            fixture="api/exchanges/coingecko_error_429.json",
            headers={"Retry-After": "60"},
            repeat=True,
        ),
    )
    scripted_server.script(
        BINANCE_PATH,
        Scripted(
            status=451,
            fixture="api/exchanges/binance_error_451_restricted_location.json",
            repeat=True,
        ),
    )
    scripted_server.script(KRAKEN_PATH, Scripted(fixture=KRAKEN_OHLC, repeat=True))
    clock = FakeClock(KRAKEN_NOW)
    ingestor, _ = price_ingestor(database, http_client, scripted_server, clock)
    prices = PriceRepository(database)

    first = await ingestor.run()
    clock.advance(minutes=5)
    second = await ingestor.run()

    assert [(report.name, report.stored, report.new) for report in first] == [
        ("kraken (1h)", 28, 28)
    ]
    assert [(report.name, report.new) for report in second] == [("kraken (1h)", 0)]
    assert await prices.count() == 28
    stored = await prices.window(SYMBOL, Interval.HOUR, timedelta(days=40))
    assert {candle.source for candle in stored} == {"kraken"}
    assert min(candle.low for candle in stored) > 0

    statuses = {status.name: status for status in await SourceStatusRepository(database).all()}
    assert statuses["kraken"].last_success_at == KRAKEN_NOW + timedelta(minutes=5)
    assert statuses["kraken"].rows_stored == 28
    assert (
        statuses["coingecko"].last_error is not None and "429" in statuses["coingecko"].last_error
    )
    assert statuses["binance"].last_error is not None and "451" in statuses["binance"].last_error

    gaps = await GapRepository(database).overlapping(
        SYMBOL, Interval.HOUR, KRAKEN_NOW - timedelta(days=40), KRAKEN_NOW
    )
    # The recorded answer holds 2026-08-09 23:00 to 08-10 22:00, then 09-08 20:00 onwards.
    assert [(gap.starts_at, gap.ends_at) for gap in gaps] == [
        (datetime(2026, 8, 10, 23, tzinfo=UTC), datetime(2026, 9, 8, 19, tzinfo=UTC))
    ]


async def test_when_every_provider_fails_nothing_is_stored_and_the_failure_shows(
    database: Database, scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    for path in (COINGECKO_PATH, BINANCE_PATH, KRAKEN_PATH):
        scripted_server.script(path, Scripted(status=500, body="down", repeat=True))
    clock = FakeClock(KRAKEN_NOW)
    ingestor, _ = price_ingestor(database, http_client, scripted_server, clock)

    (report,) = await ingestor.run()

    assert report.error is not None and "all providers failed" in report.error
    assert await PriceRepository(database).count() == 0
    statuses = await SourceStatusRepository(database).all()
    assert sorted(status.name for status in statuses) == ["binance", "coingecko", "kraken"]
    assert all(status.last_success_at is None for status in statuses)
    assert all("500" in (status.last_error or "") for status in statuses)


async def test_backfill_after_downtime_is_bounded_and_the_rest_is_a_recorded_gap(
    database: Database, scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    from core.candles import Candle

    last_stored = KRAKEN_NOW - timedelta(days=60)
    prices = PriceRepository(database)
    await prices.upsert(
        [
            Candle(
                SYMBOL, Interval.HOUR, last_stored.replace(minute=0), 1.0, 1.0, 1.0, 1.0, None, "x"
            )
        ]
    )
    scripted_server.script(KRAKEN_PATH, Scripted(fixture=KRAKEN_OHLC, repeat=True))
    for path in (COINGECKO_PATH, BINANCE_PATH):
        scripted_server.script(path, Scripted(status=503, body="", repeat=True))
    clock = FakeClock(KRAKEN_NOW)
    ingestor, _ = price_ingestor(database, http_client, scripted_server, clock)

    await ingestor.run()

    since = parse_since(scripted_server.requests_to(KRAKEN_PATH)[0].query["since"])
    backfill_floor = (KRAKEN_NOW - timedelta(days=30)).replace(minute=0)
    # Kraken's "since" is exclusive, so the provider asks from one second earlier.
    assert backfill_floor - since == timedelta(seconds=1)
    gaps = await GapRepository(database).overlapping(
        SYMBOL, Interval.HOUR, last_stored - timedelta(days=1), KRAKEN_NOW
    )
    assert gaps[0].starts_at == last_stored.replace(minute=0) + timedelta(hours=1)


def parse_since(value: str) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC)


# Derived from coindesk_rss_2026-09-25.xml: its channel, with items rewritten to hold one
# proper date, one updated-only date, one unparsable date and none at all.
DATED_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
<title>CoinDesk: Bitcoin, Ethereum, Crypto News and Price Data</title>
<link>https://www.coindesk.com</link><description>derived test feed</description>
<item><title>Dated story</title><link>https://www.coindesk.com/a</link>
<guid isPermaLink="false">g-dated</guid><pubDate>Thu, 25 Sep 2026 10:00:00 +0000</pubDate></item>
<item><title>Updated-only story</title><link>https://www.coindesk.com/b</link>
<guid isPermaLink="false">g-updated</guid><atom:updated>2026-09-25T09:00:00Z</atom:updated></item>
<item><title>Bad date story</title><link>https://www.coindesk.com/c</link>
<guid isPermaLink="false">g-bad</guid><pubDate>Mo, 25 Jun 2018 11:41:36</pubDate></item>
<item><title>Undated story</title><link>https://www.coindesk.com/d</link>
<guid isPermaLink="false">g-none</guid></item>
</channel></rss>"""


@pytest.mark.parametrize("hours_between", [1])
async def test_undated_items_keep_their_first_seen_time_and_are_not_new_again(
    database: Database,
    scripted_server: ScriptedServer,
    http_client: httpx.AsyncClient,
    hours_between: int,
) -> None:
    scripted_server.script(
        "/feed.xml", Scripted(body=DATED_FEED, content_type="application/rss+xml", repeat=True)
    )
    clock = FakeClock(datetime(2026, 9, 26, 8, tzinfo=UTC))
    ingestor = NewsIngestor(
        http_client,
        [("coindesk", scripted_server.url("/feed.xml"))],
        database,
        clock,
        max_bytes=100_000,
        timeout_seconds=2.0,
    )

    (first,) = await ingestor.run()
    clock.advance(hours=hours_between)
    (second,) = await ingestor.run()

    assert (first.stored, first.new, second.new) == (4, 4, 0)
    shown = {
        item.headline.title: item.shown_at for item in await NewsRepository(database).latest(10)
    }
    first_seen = datetime(2026, 9, 26, 8, tzinfo=UTC)
    assert shown == {
        "Dated story": datetime(2026, 9, 25, 10, tzinfo=UTC),
        "Updated-only story": datetime(2026, 9, 25, 9, tzinfo=UTC),
        "Bad date story": first_seen,
        "Undated story": first_seen,
    }


async def test_the_same_story_from_two_feeds_is_stored_once(
    database: Database, scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    # Derived: one story published by two feeds, the second adding tracking parameters.
    story = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>{feed}</title>'
        "<link>https://example.org</link><description>d</description>"
        "<item><title>Bitcoin ETF sees record inflows</title><link>{link}</link></item>"
        "</channel></rss>"
    )
    scripted_server.script(
        "/one.xml",
        Scripted(
            body=story.format(feed="one", link="https://news.example.org/etf-inflows/"),
            content_type="application/rss+xml",
        ),
    )
    scripted_server.script(
        "/two.xml",
        Scripted(
            body=story.format(
                feed="two",
                link="https://news.example.org/etf-inflows?utm_source=rss&amp;utm_medium=feed",
            ),
            content_type="application/rss+xml",
        ),
    )
    clock = FakeClock(datetime(2026, 9, 26, 8, tzinfo=UTC))
    ingestor = NewsIngestor(
        http_client,
        [("one", scripted_server.url("/one.xml")), ("two", scripted_server.url("/two.xml"))],
        database,
        clock,
        max_bytes=100_000,
        timeout_seconds=2.0,
    )

    reports = await ingestor.run()

    assert [report.new for report in reports] == [1, 0]
    assert await NewsRepository(database).count() == 1
