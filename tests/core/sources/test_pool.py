import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from core.candles import Interval
from core.errors import ConfigError, SourceError
from core.sources.pool import Condition, PoolSettings, ProviderStatus
from core.sources.prices import (
    RESTRICTED_LOCATION_WAIT,
)
from tests.support.clock import FakeClock
from tests.support.providers import make_pool
from tests.support.scripted_server import Scripted, ScriptedServer

BINANCE_PATH = "/api/v3/klines"
KRAKEN_PATH = "/0/public/OHLC"
COINGECKO_PATH = "/api/v3/coins/bitcoin/market_chart/range"
KRAKEN_OHLC = "api/exchanges/kraken_ohlc_xbtusd_1h_trimmed.json"
BINANCE_KLINES = "api/exchanges/binance_futures_klines_btcusdt_1h.json"
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
KRAKEN_NOW = datetime(2026, 9, 8, 23, 20, tzinfo=UTC)


async def test_rate_limited_and_restricted_providers_rest_while_kraken_serves(
    scripted_server: ScriptedServer,
    http_client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    scripted_server.script(
        COINGECKO_PATH,
        Scripted(
            status=429,
            fixture="api/exchanges/coingecko_error_429_short.json",
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
    pool = make_pool(http_client, scripted_server, clock, order=["coingecko", "binance", "kraken"])
    started = clock.now

    first = await pool.fetch(Interval.HOUR, LONG_AGO)
    clock.advance(seconds=30)
    within_a_minute = await pool.fetch(Interval.HOUR, LONG_AGO)

    assert (first.source, len(first.candles)) == ("kraken", 28)
    assert (within_a_minute.source, len(within_a_minute.candles)) == ("kraken", 28)
    assert len(scripted_server.requests_to(COINGECKO_PATH)) == 1

    for _ in range(5):
        clock.advance(minutes=5)
        answer = await pool.fetch(Interval.HOUR, LONG_AGO)
        assert (answer.source, len(answer.candles)) == ("kraken", 28)

    assert len(scripted_server.requests_to(KRAKEN_PATH)) == 7
    assert len(scripted_server.requests_to(COINGECKO_PATH)) == 6
    assert len(scripted_server.requests_to(BINANCE_PATH)) == 1
    assert clock.slept == []
    served_warnings = [r for r in caplog.records if "served after others failed" in r.message]
    # Runs 1 and 3-7; in run 2 CoinGecko and Binance were only resting, not failing.
    assert len(served_warnings) == 6
    assert {record.levelno for record in served_warnings} == {logging.WARNING}

    # Now Kraken fails too.
    scripted_server.script(KRAKEN_PATH, Scripted(status=500, body="oops", repeat=True))
    clock.advance(minutes=5)
    last_success = clock.now - timedelta(minutes=5)
    caplog.clear()

    with pytest.raises(SourceError, match="all providers failed") as caught:
        await pool.fetch(Interval.HOUR, LONG_AGO)

    assert len(scripted_server.requests_to(KRAKEN_PATH)) == 7 + 3
    assert clock.slept == [1.0, 2.0]
    assert caught.value.retry_after is not None
    all_failed = [r for r in caplog.records if "All price providers failed" in r.message]
    assert [record.levelno for record in all_failed] == [logging.WARNING]

    coingecko, binance, kraken = pool.snapshot()
    coingecko_failed_at = clock.now - timedelta(seconds=3)  # before Kraken's 1 s + 2 s backoff
    assert coingecko == ProviderStatus(
        name="coingecko",
        condition=Condition.RESTING,
        available_at=coingecko_failed_at + timedelta(seconds=60),
        last_success_at=None,
        last_failure_at=coingecko_failed_at,
        last_error="coingecko: HTTP 429: " + '{"status":{"error_code":429,'
        '"error_message":"You\'ve exceeded the Rate Limit."}}',
        consecutive_failures=7,
        rows_given=0,
    )
    assert binance.condition == Condition.BANNED
    assert binance.available_at == started + timedelta(seconds=RESTRICTED_LOCATION_WAIT)
    assert binance.consecutive_failures == 1
    assert binance.last_error is not None and "HTTP 451" in binance.last_error
    assert kraken == ProviderStatus(
        name="kraken",
        condition=Condition.RESTING,
        available_at=clock.now + timedelta(seconds=60),
        last_success_at=last_success,
        last_failure_at=clock.now,
        last_error="kraken: HTTP 500: oops",
        consecutive_failures=1,
        rows_given=7 * 28,
    )


async def test_binance_ban_is_waited_out_to_its_end(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        BINANCE_PATH,
        Scripted(status=418, fixture="api/exchanges/binance_error_418_ip_banned.json"),
        Scripted(fixture=BINANCE_KLINES),
    )
    scripted_server.script(KRAKEN_PATH, Scripted(fixture=KRAKEN_OHLC, repeat=True))
    # Ten minutes before the ban in the real body ends (16:47:39.262 UTC).
    clock = FakeClock(datetime(2026, 8, 18, 16, 37, 39, 262000, tzinfo=UTC))
    pool = make_pool(http_client, scripted_server, clock, order=["binance", "kraken"])

    banned = await pool.fetch(Interval.HOUR, LONG_AGO)

    # Kraken serves its August candles; its four September ones lie in this clock's future.
    assert (banned.source, len(banned.candles)) == ("kraken", 24)
    assert pool.snapshot()[0].condition == Condition.BANNED
    assert pool.snapshot()[0].available_at == datetime(2026, 8, 18, 16, 47, 39, 262000, tzinfo=UTC)

    clock.advance(minutes=9, seconds=59)
    still_banned = await pool.fetch(Interval.HOUR, LONG_AGO)
    assert still_banned.source == "kraken"
    assert len(scripted_server.requests_to(BINANCE_PATH)) == 1

    clock.advance(seconds=1)
    answer = await pool.fetch(Interval.HOUR, LONG_AGO)

    assert (answer.source, len(answer.candles)) == ("binance", 2)
    assert pool.snapshot()[0].condition == Condition.READY


async def test_other_4xx_is_not_retried_and_the_next_provider_serves(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        KRAKEN_PATH, Scripted(fixture="api/exchanges/kraken_error_unknown_pair_http200.json")
    )
    scripted_server.script(BINANCE_PATH, Scripted(fixture=BINANCE_KLINES))
    clock = FakeClock(datetime(2026, 8, 15, 19, 30, tzinfo=UTC))
    pool = make_pool(http_client, scripted_server, clock, order=["kraken", "binance"])

    answer = await pool.fetch(Interval.HOUR, LONG_AGO)

    assert answer.source == "binance"
    assert len(scripted_server.requests_to(KRAKEN_PATH)) == 1
    assert clock.slept == []
    kraken = pool.snapshot()[0]
    assert (kraken.condition, kraken.consecutive_failures) == (Condition.RESTING, 1)
    assert kraken.last_error == "kraken: EQuery:Unknown asset pair"


async def test_a_transient_failure_is_retried_with_backoff_until_it_answers(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        KRAKEN_PATH,
        Scripted(status=503, body="busy"),
        Scripted(status=502, body="bad gateway"),
        Scripted(fixture=KRAKEN_OHLC),
    )
    clock = FakeClock(KRAKEN_NOW)
    pool = make_pool(http_client, scripted_server, clock, order=["kraken"])

    answer = await pool.fetch(Interval.HOUR, LONG_AGO)

    assert (answer.source, len(answer.candles)) == ("kraken", 28)
    assert clock.slept == [1.0, 2.0]
    kraken = pool.snapshot()[0]
    assert (kraken.condition, kraken.consecutive_failures, kraken.rows_given) == (
        Condition.READY,
        0,
        28,
    )


async def test_a_server_asking_for_a_long_wait_ends_the_retries(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        KRAKEN_PATH, Scripted(status=503, body="maintenance", headers={"Retry-After": "600"})
    )
    clock = FakeClock(KRAKEN_NOW)
    pool = make_pool(http_client, scripted_server, clock, order=["kraken"])

    with pytest.raises(SourceError) as caught:
        await pool.fetch(Interval.HOUR, LONG_AGO)

    assert clock.slept == []
    assert caught.value.retry_after == 600.0
    assert pool.snapshot()[0].available_at == KRAKEN_NOW + timedelta(seconds=600)


async def test_consecutive_failures_double_the_rest_up_to_the_cap(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        KRAKEN_PATH,
        Scripted(fixture="api/exchanges/kraken_error_unknown_pair_http200.json", repeat=True),
    )
    clock = FakeClock(KRAKEN_NOW)
    settings = PoolSettings(failure_rest=60.0, failure_rest_cap=200.0)
    pool = make_pool(http_client, scripted_server, clock, order=["kraken"], settings=settings)

    rests = []
    for _ in range(4):
        with pytest.raises(SourceError):
            await pool.fetch(Interval.HOUR, LONG_AGO)
        available_at = pool.snapshot()[0].available_at
        assert available_at is not None
        rests.append((available_at - clock.now).total_seconds())
        clock.now = available_at

    assert rests == [60.0, 120.0, 200.0, 200.0]


async def test_a_rate_limit_rest_is_never_shorter_than_the_minimum(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        KRAKEN_PATH,
        Scripted(
            fixture="api/exchanges/kraken_error_too_many_requests_http200.json",
            headers={"Retry-After": "0"},
        ),
    )
    clock = FakeClock(KRAKEN_NOW)
    settings = PoolSettings(rate_limit_minimum=5.0)
    pool = make_pool(http_client, scripted_server, clock, order=["kraken"], settings=settings)

    with pytest.raises(SourceError):
        await pool.fetch(Interval.HOUR, LONG_AGO)

    assert pool.snapshot()[0].available_at == KRAKEN_NOW + timedelta(seconds=5)


async def test_a_fresh_pool_shows_every_provider_ready_in_order(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    pool = make_pool(
        http_client, scripted_server, FakeClock(KRAKEN_NOW), order=["kraken", "coingecko"]
    )

    assert pool.order == ["kraken", "coingecko"]
    assert pool.snapshot() == [
        ProviderStatus("kraken", Condition.READY, None, None, None, None, 0, 0),
        ProviderStatus("coingecko", Condition.READY, None, None, None, None, 0, 0),
    ]


@pytest.mark.parametrize(
    ("order", "message"),
    [(["kraken", "bitstamp"], "unknown"), (["kraken", "kraken"], "twice"), ([], "no price")],
)
async def test_a_bad_order_is_a_config_error(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient, order: list[str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make_pool(http_client, scripted_server, FakeClock(KRAKEN_NOW), order=order)
