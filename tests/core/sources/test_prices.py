import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.candles import Candle, Interval
from core.errors import (
    BadResponseError,
    BannedError,
    RateLimitedError,
    SourceError,
    TransientError,
)
from core.sources.prices import (
    BAN_DEFAULT_WAIT,
    RATE_LIMIT_DEFAULT_WAIT,
    RESTRICTED_LOCATION_WAIT,
    BinanceProvider,
    CoinbaseProvider,
    CoinGeckoProvider,
    HttpPriceProvider,
    KrakenProvider,
)
from tests.support.clock import FakeClock
from tests.support.scripted_server import EXCHANGES, Scripted, ScriptedServer

BINANCE_PATH = "/api/v3/klines"
KRAKEN_PATH = "/0/public/OHLC"
COINBASE_PATH = "/products/BTC-USD/candles"
COINGECKO_PATH = "/api/v3/coins/bitcoin/market_chart/range"

# Times just after each recording, so that its candles are in the past.
BINANCE_NOW = datetime(2026, 8, 15, 19, 30, tzinfo=UTC)
KRAKEN_NOW = datetime(2026, 9, 8, 23, 20, tzinfo=UTC)
COINGECKO_NOW = datetime(2024, 1, 1, 16, 30, tzinfo=UTC)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def fixture_json(name: str) -> Any:
    return json.loads((EXCHANGES / name).read_text())


def binance(
    client: httpx.AsyncClient, server: ScriptedServer, clock: FakeClock
) -> BinanceProvider:
    return BinanceProvider(client, server.base_url, clock=clock, timeout=2.0)


def kraken(client: httpx.AsyncClient, server: ScriptedServer, clock: FakeClock) -> KrakenProvider:
    return KrakenProvider(client, server.base_url, clock=clock, timeout=2.0)


def coinbase(
    client: httpx.AsyncClient, server: ScriptedServer, clock: FakeClock
) -> CoinbaseProvider:
    return CoinbaseProvider(client, server.base_url, clock=clock, timeout=2.0)


def coingecko(
    client: httpx.AsyncClient, server: ScriptedServer, clock: FakeClock, api_key: str | None = None
) -> CoinGeckoProvider:
    return CoinGeckoProvider(client, server.base_url, clock=clock, timeout=2.0, api_key=api_key)


# --- answers -------------------------------------------------------------------------------


async def test_binance_klines_become_utc_candles(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        BINANCE_PATH, Scripted(fixture="api/exchanges/binance_futures_klines_btcusdt_1h.json")
    )
    provider = binance(http_client, scripted_server, FakeClock(BINANCE_NOW))
    since = datetime(2026, 8, 15, 18, tzinfo=UTC)

    answer = await provider.fetch_candles(Interval.HOUR, since)

    assert answer.candles == [
        Candle(
            "BTC-USD",
            Interval.HOUR,
            since,
            63043.4,
            63083.0,
            63011.6,
            63026.3,
            1116.068,
            "binance",
        ),
        Candle(
            "BTC-USD",
            Interval.HOUR,
            datetime(2026, 8, 15, 19, tzinfo=UTC),
            63026.3,
            63029.7,
            63026.2,
            63029.7,
            70.64,
            "binance",
        ),
    ]
    assert answer.source == "binance"
    assert answer.rejected == Counter()
    assert answer.forming_from == datetime(2026, 8, 15, 19, tzinfo=UTC)
    assert scripted_server.requests_to(BINANCE_PATH)[0].query == {
        "symbol": "BTCUSDT",
        "interval": "1h",
        "startTime": str(int(since.timestamp() * 1000)),
        "limit": "1000",
    }


async def test_kraken_keeps_its_unfinished_last_candle_as_forming(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        KRAKEN_PATH, Scripted(fixture="api/exchanges/kraken_ohlc_xbtusd_1h_trimmed.json")
    )
    provider = kraken(http_client, scripted_server, FakeClock(KRAKEN_NOW))
    since = datetime(2026, 8, 9, 23, tzinfo=UTC)

    answer = await provider.fetch_candles(Interval.HOUR, since)

    assert len(answer.candles) == 28
    assert answer.candles[0] == Candle(
        "BTC-USD", Interval.HOUR, since, 65025.1, 65040.6, 64802.1, 64860.0, 14.92220271, "kraken"
    )
    assert answer.candles[-1].opened_at == datetime(2026, 9, 8, 23, tzinfo=UTC)
    assert answer.candles[-1].close == 78493.8
    # "last" is 22:00: the 23:00 candle is the unfinished one.
    assert answer.forming_from == datetime(2026, 9, 8, 23, tzinfo=UTC)
    assert scripted_server.requests_to(KRAKEN_PATH)[0].query == {
        "pair": "XBTUSD",
        "interval": "60",
        "since": str(int(since.timestamp()) - 1),
    }


async def test_kraken_answer_without_forming_candle_when_last_is_the_newest(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    # Derived from the real Kraken body: "last" moved to the newest candle's time.
    body = fixture_json("kraken_ohlc_xbtusd_1h_trimmed.json")
    body["result"]["last"] = 1788908400
    scripted_server.script(KRAKEN_PATH, Scripted(body=json.dumps(body)))
    provider = kraken(http_client, scripted_server, FakeClock(KRAKEN_NOW + timedelta(hours=1)))

    answer = await provider.fetch_candles(Interval.HOUR, LONG_AGO)

    assert answer.forming_from is None
    assert len(answer.candles) == 28


async def test_candles_before_since_are_left_out(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        KRAKEN_PATH, Scripted(fixture="api/exchanges/kraken_ohlc_xbtusd_1h_trimmed.json")
    )
    provider = kraken(http_client, scripted_server, FakeClock(KRAKEN_NOW))

    answer = await provider.fetch_candles(Interval.HOUR, datetime(2026, 9, 8, 22, tzinfo=UTC))

    assert [candle.opened_at.hour for candle in answer.candles] == [22, 23]


async def test_coinbase_rows_are_reordered_from_newest_first(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    # Derived: no real Coinbase body exists, so the two real Binance klines are laid out as
    # Coinbase documents its rows, [time, low, high, open, close, volume], newest first.
    klines = fixture_json("binance_futures_klines_btcusdt_1h.json")
    rows = [
        [k[0] // 1000, float(k[3]), float(k[2]), float(k[1]), float(k[4]), float(k[5])]
        for k in reversed(klines)
    ]
    scripted_server.script(COINBASE_PATH, Scripted(body=json.dumps(rows)))
    provider = coinbase(http_client, scripted_server, FakeClock(BINANCE_NOW))
    since = datetime(2026, 8, 15, 18, tzinfo=UTC)

    answer = await provider.fetch_candles(Interval.HOUR, since)

    assert [(c.opened_at.hour, c.open, c.high, c.low, c.close) for c in answer.candles] == [
        (18, 63043.4, 63083.0, 63011.6, 63026.3),
        (19, 63026.3, 63029.7, 63026.2, 63029.7),
    ]
    assert answer.forming_from == datetime(2026, 8, 15, 19, tzinfo=UTC)
    assert scripted_server.requests_to(COINBASE_PATH)[0].query == {
        "granularity": "3600",
        "start": "2026-08-15T18:00:00+00:00",
        "end": "2026-08-15T19:30:00+00:00",
    }


async def test_coinbase_window_is_capped_at_300_candles(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(COINBASE_PATH, Scripted(body="[]"))
    provider = coinbase(http_client, scripted_server, FakeClock(BINANCE_NOW))

    answer = await provider.fetch_candles(Interval.DAY, datetime(2024, 1, 1, 5, tzinfo=UTC))

    assert answer.candles == []
    assert scripted_server.requests_to(COINBASE_PATH)[0].query == {
        "granularity": "86400",
        "start": "2024-01-01T00:00:00+00:00",
        "end": "2024-10-26T00:00:00+00:00",
    }


async def test_coingecko_points_make_one_daily_candle(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        COINGECKO_PATH,
        Scripted(fixture="api/exchanges/coingecko_market_chart_range_btc_2024-01-01.json"),
    )
    provider = coingecko(http_client, scripted_server, FakeClock(COINGECKO_NOW))
    since = datetime(2024, 1, 1, 3, tzinfo=UTC)

    answer = await provider.fetch_candles(Interval.DAY, since - timedelta(hours=3))

    assert answer.candles == [
        Candle(
            "BTC-USD",
            Interval.DAY,
            datetime(2024, 1, 1, tzinfo=UTC),
            42208.2,
            42773.36,
            42208.2,
            42773.36,
            None,
            "coingecko",
        )
    ]
    assert answer.forming_from == datetime(2024, 1, 1, tzinfo=UTC)
    request = scripted_server.requests_to(COINGECKO_PATH)[0]
    assert request.query == {
        "vs_currency": "usd",
        "from": str(int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())),
        "to": str(int(COINGECKO_NOW.timestamp())),
    }
    assert "x-cg-demo-api-key" not in {name.lower() for name in request.headers}


async def test_coingecko_points_make_flat_hourly_candles_and_send_the_key(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        COINGECKO_PATH,
        Scripted(fixture="api/exchanges/coingecko_market_chart_range_btc_2024-01-01.json"),
    )
    provider = coingecko(http_client, scripted_server, FakeClock(COINGECKO_NOW), api_key="k-123")

    answer = await provider.fetch_candles(Interval.HOUR, datetime(2024, 1, 1, tzinfo=UTC))

    assert [(c.opened_at.hour, c.open, c.high, c.low, c.close) for c in answer.candles] == [
        (0, 42208.2, 42208.2, 42208.2, 42208.2),
        (16, 42773.36, 42773.36, 42773.36, 42773.36),
    ]
    assert answer.forming_from == datetime(2024, 1, 1, 16, tzinfo=UTC)
    headers = scripted_server.requests_to(COINGECKO_PATH)[0].headers
    assert {name.lower(): value for name, value in headers.items()}["x-cg-demo-api-key"] == "k-123"


def test_default_base_urls_are_the_official_ones() -> None:
    assert BinanceProvider.default_base_url == "https://api.binance.com"
    assert KrakenProvider.default_base_url == "https://api.kraken.com"
    assert CoinbaseProvider.default_base_url == "https://api.exchange.coinbase.com"
    assert CoinGeckoProvider.default_base_url == "https://api.coingecko.com"


async def test_naive_since_is_refused_before_any_request(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    provider = kraken(http_client, scripted_server, FakeClock(KRAKEN_NOW))

    with pytest.raises(ValueError, match="timezone-aware"):
        await provider.fetch_candles(Interval.HOUR, datetime(2026, 9, 8))

    assert scripted_server.requests == []


# --- rejected candles ----------------------------------------------------------------------


async def test_unsound_candles_are_rejected_and_counted(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    # Derived from the real Binance klines: copies of the first one moved to later hours,
    # one with a zero open, one with a NaN high, one with high and low swapped.
    klines = fixture_json("binance_futures_klines_btcusdt_1h.json")
    first = klines[0]
    hour_ms = 3_600_000
    zero_open = [first[0] - 3 * hour_ms, "0", *first[2:]]
    nan_high = [first[0] - 2 * hour_ms, first[1], "NaN", *first[3:]]
    swapped = [first[0] - hour_ms, first[1], first[3], first[2], *first[4:]]
    scripted_server.script(
        BINANCE_PATH, Scripted(body=json.dumps([zero_open, nan_high, swapped, *klines]))
    )
    provider = binance(http_client, scripted_server, FakeClock(BINANCE_NOW))

    answer = await provider.fetch_candles(Interval.HOUR, LONG_AGO)

    assert [candle.opened_at.hour for candle in answer.candles] == [18, 19]
    assert answer.rejected == Counter(
        {"non_positive_price": 1, "non_finite_price": 1, "high_below_low": 1}
    )


async def test_candles_from_the_future_are_rejected_and_counted(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        KRAKEN_PATH, Scripted(fixture="api/exchanges/kraken_ohlc_xbtusd_1h_trimmed.json")
    )
    # Our clock lags the exchange's: its 22:00 and 23:00 candles lie in our future.
    provider = kraken(
        http_client, scripted_server, FakeClock(datetime(2026, 9, 8, 21, 30, tzinfo=UTC))
    )

    answer = await provider.fetch_candles(Interval.HOUR, LONG_AGO)

    assert len(answer.candles) == 26
    assert answer.rejected == Counter({"future_timestamp": 2})
    assert answer.forming_from is None


async def test_an_answer_whose_every_candle_is_rejected_is_a_bad_response(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        BINANCE_PATH, Scripted(fixture="api/exchanges/binance_futures_klines_btcusdt_1h.json")
    )
    provider = binance(http_client, scripted_server, FakeClock(datetime(2026, 8, 1, tzinfo=UTC)))

    with pytest.raises(BadResponseError, match="future_timestamp"):
        await provider.fetch_candles(Interval.HOUR, LONG_AGO)


# --- errors --------------------------------------------------------------------------------


async def test_binance_418_bans_until_the_end_the_body_gives(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        BINANCE_PATH,
        Scripted(status=418, fixture="api/exchanges/binance_error_418_ip_banned.json"),
    )
    now = datetime(2026, 8, 18, 16, 0, tzinfo=UTC)
    provider = binance(http_client, scripted_server, FakeClock(now))

    with pytest.raises(BannedError) as caught:
        await provider.fetch_candles(Interval.HOUR, LONG_AGO)

    # The body says banned until 1787071659262 ms, 16:47:39.262 UTC.
    assert caught.value.retry_after == pytest.approx(47 * 60 + 39.262)
    assert caught.value.source == "binance"


async def test_binance_418_without_a_ban_end_uses_retry_after_then_the_default(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    # Derived from the real 418 body, with the ban end removed.
    body = '{"code":-1003,"msg":"Way too many requests; IP(203.0.113.7) banned."}'
    scripted_server.script(
        BINANCE_PATH,
        Scripted(status=418, body=body, headers={"Retry-After": "120"}),
        Scripted(status=418, body=body),
    )
    provider = binance(http_client, scripted_server, FakeClock(BINANCE_NOW))

    with pytest.raises(BannedError) as told:
        await provider.fetch_candles(Interval.HOUR, LONG_AGO)
    with pytest.raises(BannedError) as untold:
        await provider.fetch_candles(Interval.HOUR, LONG_AGO)

    assert (told.value.retry_after, untold.value.retry_after) == (120.0, BAN_DEFAULT_WAIT)


async def test_binance_429_is_a_rate_limit_with_its_retry_after(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        BINANCE_PATH,
        Scripted(
            status=429,
            fixture="api/exchanges/binance_error_429_too_many_requests.json",
            headers={"Retry-After": "7"},
        ),
        Scripted(status=429, fixture="api/exchanges/binance_error_429_too_many_requests.json"),
    )
    provider = binance(http_client, scripted_server, FakeClock(BINANCE_NOW))

    with pytest.raises(RateLimitedError) as told:
        await provider.fetch_candles(Interval.HOUR, LONG_AGO)
    with pytest.raises(RateLimitedError) as untold:
        await provider.fetch_candles(Interval.HOUR, LONG_AGO)

    assert (told.value.retry_after, untold.value.retry_after) == (7.0, RATE_LIMIT_DEFAULT_WAIT)


async def test_binance_code_1003_with_a_success_status_is_a_rate_limit(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        BINANCE_PATH,
        Scripted(status=200, fixture="api/exchanges/binance_error_429_too_many_requests.json"),
    )
    provider = binance(http_client, scripted_server, FakeClock(BINANCE_NOW))

    with pytest.raises(RateLimitedError, match="-1003"):
        await provider.fetch_candles(Interval.HOUR, LONG_AGO)


async def test_binance_451_bans_for_the_long_restricted_location_wait(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        BINANCE_PATH,
        Scripted(status=451, fixture="api/exchanges/binance_error_451_restricted_location.json"),
    )
    provider = binance(http_client, scripted_server, FakeClock(BINANCE_NOW))

    with pytest.raises(BannedError, match="restricted location") as caught:
        await provider.fetch_candles(Interval.HOUR, LONG_AGO)

    assert caught.value.retry_after == RESTRICTED_LOCATION_WAIT


async def test_kraken_rate_limit_body_with_http_200_is_a_rate_limit(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        KRAKEN_PATH, Scripted(fixture="api/exchanges/kraken_error_too_many_requests_http200.json")
    )
    provider = kraken(http_client, scripted_server, FakeClock(KRAKEN_NOW))

    with pytest.raises(RateLimitedError, match="EGeneral:Too many requests") as caught:
        await provider.fetch_candles(Interval.DAY, LONG_AGO)

    assert caught.value.retry_after == RATE_LIMIT_DEFAULT_WAIT
    assert scripted_server.requests_to(KRAKEN_PATH)[0].query["interval"] == "1440"


async def test_kraken_unknown_pair_with_http_200_is_a_bad_response(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        KRAKEN_PATH, Scripted(fixture="api/exchanges/kraken_error_unknown_pair_http200.json")
    )
    provider = kraken(http_client, scripted_server, FakeClock(KRAKEN_NOW))

    with pytest.raises(BadResponseError, match="EQuery:Unknown asset pair"):
        await provider.fetch_candles(Interval.HOUR, LONG_AGO)


async def test_kraken_service_errors_are_transient(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    # Derived: Kraken's documented EService:Unavailable in its real error envelope.
    scripted_server.script(KRAKEN_PATH, Scripted(body='{"error":["EService:Unavailable"]}'))
    provider = kraken(http_client, scripted_server, FakeClock(KRAKEN_NOW))

    with pytest.raises(TransientError, match="EService:Unavailable"):
        await provider.fetch_candles(Interval.HOUR, LONG_AGO)


@pytest.mark.parametrize(
    ("fixture", "status"),
    [("coingecko_error_429.json", 200), ("coingecko_error_429_short.json", 200)],
)
async def test_coingecko_429_body_with_http_200_is_a_rate_limit(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient, fixture: str, status: int
) -> None:
    scripted_server.script(
        COINGECKO_PATH, Scripted(status=status, fixture=f"api/exchanges/{fixture}")
    )
    provider = coingecko(http_client, scripted_server, FakeClock(COINGECKO_NOW))

    with pytest.raises(RateLimitedError, match="exceeded the Rate Limit") as caught:
        await provider.fetch_candles(Interval.HOUR, LONG_AGO)

    assert caught.value.retry_after == RATE_LIMIT_DEFAULT_WAIT


async def test_coingecko_http_429_honours_retry_after_as_a_date(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        COINGECKO_PATH,
        Scripted(
            status=429,
            fixture="api/exchanges/coingecko_error_429_short.json",
            headers={"Retry-After": "Mon, 01 Jan 2024 16:31:30 GMT"},
        ),
    )
    provider = coingecko(http_client, scripted_server, FakeClock(COINGECKO_NOW))

    with pytest.raises(RateLimitedError) as caught:
        await provider.fetch_candles(Interval.HOUR, LONG_AGO)

    assert caught.value.retry_after == 90.0


@pytest.mark.parametrize(
    ("provider_factory", "path"),
    [
        (binance, BINANCE_PATH),
        (kraken, KRAKEN_PATH),
        (coinbase, COINBASE_PATH),
        (coingecko, COINGECKO_PATH),
    ],
)
async def test_every_provider_translates_5xx_404_and_broken_json(
    scripted_server: ScriptedServer,
    http_client: httpx.AsyncClient,
    provider_factory: object,
    path: str,
) -> None:
    # Derived: the real Kraken body cut in half is malformed JSON for every provider.
    broken = (EXCHANGES / "kraken_ohlc_xbtusd_1h_trimmed.json").read_text()[:1000]
    scripted_server.script(
        path,
        Scripted(status=502, body="<html>Bad Gateway</html>", content_type="text/html"),
        Scripted(status=404, body='{"message":"NotFound"}'),
        Scripted(status=200, body=broken),
    )
    assert callable(provider_factory)
    provider: HttpPriceProvider = provider_factory(
        http_client, scripted_server, FakeClock(KRAKEN_NOW)
    )

    errors = []
    for _ in range(3):
        with pytest.raises(SourceError) as caught:
            await provider.fetch_candles(Interval.HOUR, LONG_AGO)
        errors.append(type(caught.value))

    assert errors == [TransientError, BadResponseError, BadResponseError]


@pytest.mark.parametrize(
    "body",
    [
        '{"error":[],"result":{"XXBTZUSD":[[1786316400,"65025.1"]],"last":1786316400}}',
        '{"error":[],"result":{"XXBTZUSD":[]}}',
        '{"error":[],"result":{"XXBTZUSD":[],"XBTUSD":[],"last":1}}',
        '{"error":[],"result":{"XXBTZUSD":[[1786316400,"x","1","1","1","1","1",1]],"last":1}}',
        '{"error":[]}',
        "[]",
    ],
)
async def test_kraken_bodies_of_the_wrong_shape_are_bad_responses(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient, body: str
) -> None:
    scripted_server.script(KRAKEN_PATH, Scripted(body=body))
    provider = kraken(http_client, scripted_server, FakeClock(KRAKEN_NOW))

    with pytest.raises(BadResponseError):
        await provider.fetch_candles(Interval.HOUR, LONG_AGO)


async def test_a_slow_answer_is_a_transient_timeout(
    scripted_server: ScriptedServer, http_client: httpx.AsyncClient
) -> None:
    scripted_server.script(
        KRAKEN_PATH,
        Scripted(fixture="api/exchanges/kraken_ohlc_xbtusd_1h_trimmed.json", delay=5.0),
    )
    provider = KrakenProvider(
        http_client, scripted_server.base_url, clock=FakeClock(KRAKEN_NOW), timeout=0.2
    )

    with pytest.raises(TransientError, match="timed out"):
        await provider.fetch_candles(Interval.HOUR, LONG_AGO)


async def test_a_refused_connection_is_transient(http_client: httpx.AsyncClient) -> None:
    # A port that was just free: nothing listens on it.
    server = ScriptedServer()
    await server.start()
    base_url = server.base_url
    await server.close()
    provider = BinanceProvider(http_client, base_url, clock=FakeClock(BINANCE_NOW), timeout=2.0)

    with pytest.raises(TransientError, match="request failed"):
        await provider.fetch_candles(Interval.HOUR, LONG_AGO)
