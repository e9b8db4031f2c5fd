"""Price providers: exchanges and aggregators that give BTC-USD candles over HTTP.

Each provider asks one public endpoint, checks the body, turns its rows into UTC candles and
counts the candles :func:`core.candles.rejection_reason` refuses. Every failure leaves as one
of :mod:`core.errors`' source errors:

========================================  =================================================
What the provider said                    Raised
========================================  =================================================
HTTP 429, or a rate-limit body            ``RateLimitedError``, ``retry_after`` from the
(CoinGecko ``status.error_code`` 429,     ``Retry-After`` header, else
Kraken ``EGeneral:Too many requests``,    :data:`RATE_LIMIT_DEFAULT_WAIT`
Binance code -1003), even with HTTP 200
HTTP 418 (Binance IP ban)                 ``BannedError`` until the ban's end from the body,
                                          else ``Retry-After``, else :data:`BAN_DEFAULT_WAIT`
HTTP 451 (restricted location)            ``BannedError`` for :data:`RESTRICTED_LOCATION_WAIT`
HTTP 5xx, timeouts, broken connections,   ``TransientError``
Kraken ``EService:*``
Any other 4xx, a malformed body, Kraken   ``BadResponseError``
``EQuery:Unknown asset pair``
========================================  =================================================
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

import httpx

from core.candles import SYMBOL, Candle, Interval, rejection_reason, utc_from_unix
from core.errors import (
    BadResponseError,
    BannedError,
    RateLimitedError,
    SourceError,
    TransientError,
)
from core.sources.retry_after import parse_retry_after

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

DEFAULT_TIMEOUT = 10.0
"""Seconds allowed for each step (connect, write, read) of one provider request."""

RATE_LIMIT_DEFAULT_WAIT = 60.0
"""Seconds to wait after a rate-limit answer that does not say how long: one minute is the
window of Binance's and CoinGecko's per-minute limits and more than Kraken's decay needs."""

BAN_DEFAULT_WAIT = 30 * 60.0
"""Seconds to stay away after an IP ban that does not say when it ends. Binance bans last
from 2 minutes to 3 days and normally say when they end."""

RESTRICTED_LOCATION_WAIT = 24 * 3600.0
"""Seconds to disable a provider that refuses our location (HTTP 451): a day, since the
refusal will not change by itself within the hour but the host may move."""

_ERROR_TEXT_LENGTH = 200
_BINANCE_BAN_END = re.compile(r"banned until (\d{10,16})")


def utc_now() -> datetime:
    """Give the present time as aware UTC; the default clock of providers and the pool."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ProviderAnswer:
    """What one provider gave for one request.

    Attributes:
        source: The provider's name.
        candles: The sound candles opened at or after the time asked for, oldest first.
        rejected: How many candles were refused, by :func:`rejection_reason`'s reason.
        forming_from: When the newest candle is still forming (its interval has not ended),
            the time it opened; storage upserts it later. None when every candle is final.
    """

    source: str
    candles: list[Candle]
    rejected: Counter[str] = field(default_factory=Counter)
    forming_from: datetime | None = None


class PriceProvider(Protocol):
    """A source of BTC-USD candles."""

    @property
    def name(self) -> str:
        """The provider's short name, as shown in logs, /status and ``Candle.source``."""
        ...

    async def fetch_candles(self, interval: Interval, since: datetime) -> ProviderAnswer:
        """Fetch the candles of ``interval`` opened at or after ``since``.

        Raises:
            SourceError: One of its subclasses, as the module table says.
        """
        ...


class _MalformedBodyError(ValueError):
    """A body's shape is not what the provider documents."""


@dataclass(frozen=True, slots=True)
class _Row:
    """One candle as read from a body, before its checks."""

    opened_at: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float | None
    forming: bool


class HttpPriceProvider:
    """The request, error translation and candle checks every HTTP provider shares.

    Subclasses name the endpoint, read their body and may recognise error bodies.
    """

    name: ClassVar[str] = "http"
    default_base_url: ClassVar[str] = ""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock = utc_now,
    ) -> None:
        """Prepare a provider.

        Args:
            client: The shared HTTP client; the provider never closes it.
            base_url: Scheme and host (and optional path prefix) of the API; the official
                address when None, which only production uses.
            timeout: Seconds allowed for each step of a request.
            clock: Gives the present time, aware UTC.
        """
        self._client = client
        self._base_url = (base_url or self.default_base_url).rstrip("/")
        self._timeout = timeout
        self._clock = clock

    async def fetch_candles(self, interval: Interval, since: datetime) -> ProviderAnswer:
        """Fetch the candles of ``interval`` opened at or after ``since``.

        Args:
            interval: Hourly or daily.
            since: The earliest opening time wanted, timezone-aware.

        Raises:
            ValueError: When ``since`` is naive.
            SourceError: One of its subclasses, as the module table says.
        """
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")

        now = self._clock()
        path, params, headers = self._request(interval, since.astimezone(UTC), now)
        response = await self._get(path, params, headers)
        self._raise_for_status(response, now)
        payload = self._payload(response)
        self._raise_for_error_body(payload, response, now)

        try:
            rows = self._rows(payload, interval, now)
        except (_MalformedBodyError, KeyError, IndexError, TypeError, ValueError) as error:
            raise BadResponseError(self.name, f"malformed body: {error}") from error

        return self._answer(rows, interval, since, now)

    def _request(
        self, interval: Interval, since: datetime, now: datetime
    ) -> tuple[str, dict[str, str | int], dict[str, str]]:
        """Give the path, query parameters and extra headers of the request."""
        raise NotImplementedError

    def _rows(self, payload: Any, interval: Interval, now: datetime) -> list[_Row]:
        """Read the body's candles; raise ``_MalformedBodyError`` on a shape surprise."""
        raise NotImplementedError

    def _raise_for_error_body(self, payload: Any, response: httpx.Response, now: datetime) -> None:
        """Raise the right error for an error body sent with a success status."""

    def _ban_wait(self, response: httpx.Response, now: datetime) -> float | None:
        """Give the seconds until an IP ban ends, when the body says it."""
        return None

    async def _get(
        self, path: str, params: Mapping[str, str | int], headers: Mapping[str, str]
    ) -> httpx.Response:
        """Send the GET request, translating transport failures."""
        url = f"{self._base_url}{path}"
        try:
            return await self._client.get(
                url, params=dict(params), headers=dict(headers), timeout=self._timeout
            )
        except httpx.TimeoutException as error:
            raise TransientError(self.name, f"timed out: {type(error).__name__}") from error
        except httpx.HTTPError as error:
            raise TransientError(self.name, f"request failed: {error!r}") from error

    def _raise_for_status(self, response: httpx.Response, now: datetime) -> None:
        """Raise the error an HTTP status means; return quietly on a success status."""
        status = response.status_code
        if status < 400:
            return

        told = parse_retry_after(response.headers.get("Retry-After"), now)
        detail = f"HTTP {status}: {_excerpt(response)}"
        if status == 429:
            wait = told if told is not None else RATE_LIMIT_DEFAULT_WAIT
            raise RateLimitedError(self.name, detail, retry_after=wait)
        if status == 418:
            ban_wait = self._ban_wait(response, now)
            if ban_wait is None:
                ban_wait = told if told is not None else BAN_DEFAULT_WAIT
            raise BannedError(self.name, detail, retry_after=ban_wait)
        if status == 451:
            raise BannedError(self.name, detail, retry_after=RESTRICTED_LOCATION_WAIT)
        if status >= 500:
            raise TransientError(self.name, detail, retry_after=told)
        raise BadResponseError(self.name, detail)

    def _rate_limited(self, response: httpx.Response, now: datetime, detail: str) -> SourceError:
        """Build the error for a rate-limit body sent with a success status."""
        told = parse_retry_after(response.headers.get("Retry-After"), now)
        wait = told if told is not None else RATE_LIMIT_DEFAULT_WAIT
        return RateLimitedError(self.name, detail, retry_after=wait)

    def _payload(self, response: httpx.Response) -> Any:
        """Decode the JSON body."""
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise BadResponseError(self.name, f"body is not JSON: {_excerpt(response)}") from error

    def _answer(
        self, rows: Sequence[_Row], interval: Interval, since: datetime, now: datetime
    ) -> ProviderAnswer:
        """Check the rows into candles, counting the refused ones by reason."""
        candles: list[Candle] = []
        rejected: Counter[str] = Counter()
        forming_from: datetime | None = None
        for row in sorted(rows, key=lambda row: row.opened_at):
            if row.opened_at < since:
                continue
            candle = Candle(
                symbol=SYMBOL,
                interval=interval,
                opened_at=row.opened_at,
                open=row.open,
                high=row.high,
                low=row.low,
                close=row.close,
                volume=row.volume,
                source=self.name,
            )
            reason = rejection_reason(candle, now)
            if reason is not None:
                rejected[reason] += 1
                continue
            candles.append(candle)
            if row.forming:
                forming_from = candle.opened_at

        if rejected and not candles:
            raise BadResponseError(self.name, f"every candle was refused: {dict(rejected)}")
        if rejected:
            logger.info("Provider %s: refused candles %s", self.name, dict(rejected))

        return ProviderAnswer(
            source=self.name, candles=candles, rejected=rejected, forming_from=forming_from
        )


class BinanceProvider(HttpPriceProvider):
    """Binance spot klines (``/api/v3/klines``).

    Note:
        Binance quotes bitcoin in USDT, a dollar stablecoin, not in US dollars; the
        difference is usually well under 0.1 %.
    """

    name: ClassVar[str] = "binance"
    default_base_url: ClassVar[str] = "https://api.binance.com"

    _INTERVALS: ClassVar[dict[Interval, str]] = {Interval.HOUR: "1h", Interval.DAY: "1d"}
    _LIMIT = 1000

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str | None = None,
        *,
        symbol: str = "BTCUSDT",
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock = utc_now,
    ) -> None:
        """Prepare the provider; ``symbol`` is Binance's pair name."""
        super().__init__(client, base_url, timeout=timeout, clock=clock)
        self._symbol = symbol

    def _request(
        self, interval: Interval, since: datetime, now: datetime
    ) -> tuple[str, dict[str, str | int], dict[str, str]]:
        params: dict[str, str | int] = {
            "symbol": self._symbol,
            "interval": self._INTERVALS[interval],
            "startTime": int(since.timestamp() * 1000),
            "limit": self._LIMIT,
        }
        return "/api/v3/klines", params, {}

    def _ban_wait(self, response: httpx.Response, now: datetime) -> float | None:
        match = _BINANCE_BAN_END.search(response.text)
        if match is None:
            return None
        ban_end = utc_from_unix(int(match.group(1)) / 1000)
        return max((ban_end - now).total_seconds(), 0.0)

    def _raise_for_error_body(self, payload: Any, response: httpx.Response, now: datetime) -> None:
        if not isinstance(payload, dict):
            return
        detail = f"code {payload.get('code')}: {str(payload.get('msg'))[:_ERROR_TEXT_LENGTH]}"
        if payload.get("code") == -1003:
            raise self._rate_limited(response, now, detail)
        raise BadResponseError(self.name, detail)

    def _rows(self, payload: Any, interval: Interval, now: datetime) -> list[_Row]:
        if not isinstance(payload, list):
            raise _MalformedBodyError(f"expected a list of klines, got {type(payload).__name__}")
        rows = []
        for kline in payload:
            if not isinstance(kline, list) or len(kline) < 7:
                raise _MalformedBodyError(f"kline is not a list of 12 fields: {kline!r:.80}")
            rows.append(
                _Row(
                    opened_at=utc_from_unix(_number(kline[0]) / 1000),
                    open=_number(kline[1]),
                    high=_number(kline[2]),
                    low=_number(kline[3]),
                    close=_number(kline[4]),
                    volume=_number(kline[5]),
                    # Binance's close time is the interval's last millisecond.
                    forming=utc_from_unix((_number(kline[6]) + 1) / 1000) > now,
                )
            )
        return rows


class KrakenProvider(HttpPriceProvider):
    """Kraken OHLC (``/0/public/OHLC``).

    Kraken sends its errors with HTTP 200 in the ``error`` list. Its ``last`` field is the
    opening time of the newest committed candle: a candle that opens after it is the
    unfinished one, kept and reported as ``forming_from``.

    Note:
        Kraken gives at most the 720 newest candles whatever ``since`` says, so a gap older
        than 30 days (hourly) cannot be filled from here.
    """

    name: ClassVar[str] = "kraken"
    default_base_url: ClassVar[str] = "https://api.kraken.com"

    _INTERVALS: ClassVar[dict[Interval, int]] = {Interval.HOUR: 60, Interval.DAY: 1440}
    _RATE_LIMIT_ERRORS = ("EGeneral:Too many requests", "EAPI:Rate limit exceeded")
    _TRANSIENT_ERRORS = ("EService:",)

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str | None = None,
        *,
        pair: str = "XBTUSD",
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock = utc_now,
    ) -> None:
        """Prepare the provider; ``pair`` is Kraken's pair name."""
        super().__init__(client, base_url, timeout=timeout, clock=clock)
        self._pair = pair

    def _request(
        self, interval: Interval, since: datetime, now: datetime
    ) -> tuple[str, dict[str, str | int], dict[str, str]]:
        # Kraken's since is exclusive; one second earlier keeps the candle opening at since.
        params: dict[str, str | int] = {
            "pair": self._pair,
            "interval": self._INTERVALS[interval],
            "since": int(since.timestamp()) - 1,
        }
        return "/0/public/OHLC", params, {}

    def _raise_for_error_body(self, payload: Any, response: httpx.Response, now: datetime) -> None:
        if not isinstance(payload, dict):
            raise BadResponseError(self.name, "body is not a JSON object")
        errors = payload.get("error") or []
        if not errors:
            return

        detail = "; ".join(str(error) for error in errors)[:_ERROR_TEXT_LENGTH]
        if any(str(error).startswith(self._RATE_LIMIT_ERRORS) for error in errors):
            raise self._rate_limited(response, now, detail)
        if any(str(error).startswith(self._TRANSIENT_ERRORS) for error in errors):
            raise TransientError(self.name, detail)
        raise BadResponseError(self.name, detail)

    def _rows(self, payload: Any, interval: Interval, now: datetime) -> list[_Row]:
        result = payload["result"]
        if not isinstance(result, dict):
            raise _MalformedBodyError("result is not an object")
        last = result.get("last")
        if not isinstance(last, int) or isinstance(last, bool):
            raise _MalformedBodyError(f"last is not a timestamp: {last!r:.40}")
        series = [value for name, value in result.items() if name != "last"]
        if len(series) != 1 or not isinstance(series[0], list):
            raise _MalformedBodyError("result does not hold exactly one candle series")

        rows = []
        for ohlc in series[0]:
            if not isinstance(ohlc, list) or len(ohlc) != 8:
                raise _MalformedBodyError(f"OHLC row is not a list of 8 fields: {ohlc!r:.80}")
            rows.append(
                _Row(
                    opened_at=utc_from_unix(_number(ohlc[0])),
                    open=_number(ohlc[1]),
                    high=_number(ohlc[2]),
                    low=_number(ohlc[3]),
                    close=_number(ohlc[4]),
                    volume=_number(ohlc[6]),
                    # A candle is committed (final) up to ``last``; the one after is forming.
                    forming=_number(ohlc[0]) > last,
                )
            )
        return rows


class CoinbaseProvider(HttpPriceProvider):
    """Coinbase Exchange candles (``/products/BTC-USD/candles``).

    Rows are ``[time, low, high, open, close, volume]``, newest first. One request gives at
    most 300 candles, so the window asked for starts at ``since`` and ends 299 intervals
    later or now, whichever comes first; a longer gap is filled over several runs.
    """

    name: ClassVar[str] = "coinbase"
    default_base_url: ClassVar[str] = "https://api.exchange.coinbase.com"

    _GRANULARITY: ClassVar[dict[Interval, int]] = {Interval.HOUR: 3600, Interval.DAY: 86400}
    _MAX_CANDLES = 300

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str | None = None,
        *,
        product: str = "BTC-USD",
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock = utc_now,
    ) -> None:
        """Prepare the provider; ``product`` is Coinbase's product id."""
        super().__init__(client, base_url, timeout=timeout, clock=clock)
        self._product = product

    def _request(
        self, interval: Interval, since: datetime, now: datetime
    ) -> tuple[str, dict[str, str | int], dict[str, str]]:
        start = _bucket_start(since, interval)
        end = min(start + interval.length * (self._MAX_CANDLES - 1), now)
        params: dict[str, str | int] = {
            "granularity": self._GRANULARITY[interval],
            "start": start.isoformat(),
            "end": end.isoformat(),
        }
        return f"/products/{self._product}/candles", params, {}

    def _raise_for_error_body(self, payload: Any, response: httpx.Response, now: datetime) -> None:
        if isinstance(payload, dict):
            message = str(payload.get("message", payload))[:_ERROR_TEXT_LENGTH]
            raise BadResponseError(self.name, message)

    def _rows(self, payload: Any, interval: Interval, now: datetime) -> list[_Row]:
        if not isinstance(payload, list):
            raise _MalformedBodyError(f"expected a list of candles, got {type(payload).__name__}")
        rows = []
        for candle in payload:
            if not isinstance(candle, list) or len(candle) != 6:
                raise _MalformedBodyError(f"candle is not a list of 6 fields: {candle!r:.80}")
            opened_at = utc_from_unix(_number(candle[0]))
            rows.append(
                _Row(
                    opened_at=opened_at,
                    low=_number(candle[1]),
                    high=_number(candle[2]),
                    open=_number(candle[3]),
                    close=_number(candle[4]),
                    volume=_number(candle[5]),
                    forming=opened_at + interval.length > now,
                )
            )
        return rows


class CoinGeckoProvider(HttpPriceProvider):
    """CoinGecko's price history (``/api/v3/coins/bitcoin/market_chart/range``).

    CoinGecko may send its rate-limit body (``status.error_code`` 429) with HTTP 200, so the
    body's ``status`` is checked before anything else. An API key, when given, goes in the
    ``x-cg-demo-api-key`` header.

    Note:
        This endpoint gives price points, not candles: every 5 minutes for the last day,
        hourly up to 90 days, daily beyond. A candle is built from the points inside its
        interval: open is the first point, close the last, high and low the largest and
        smallest. They understate the true range, an interval with one point gives a flat
        candle, and volume is unknown (CoinGecko's volumes are rolling 24-hour dollar sums),
        so it is None.
    """

    name: ClassVar[str] = "coingecko"
    default_base_url: ClassVar[str] = "https://api.coingecko.com"

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock = utc_now,
    ) -> None:
        """Prepare the provider; ``api_key`` is an optional demo-plan key."""
        super().__init__(client, base_url, timeout=timeout, clock=clock)
        self._api_key = api_key

    def _request(
        self, interval: Interval, since: datetime, now: datetime
    ) -> tuple[str, dict[str, str | int], dict[str, str]]:
        params: dict[str, str | int] = {
            "vs_currency": "usd",
            "from": int(_bucket_start(since, interval).timestamp()),
            "to": int(now.timestamp()),
        }
        headers = {"x-cg-demo-api-key": self._api_key} if self._api_key else {}
        return "/api/v3/coins/bitcoin/market_chart/range", params, headers

    def _raise_for_error_body(self, payload: Any, response: httpx.Response, now: datetime) -> None:
        if not isinstance(payload, dict):
            raise BadResponseError(self.name, "body is not a JSON object")
        status = payload.get("status")
        if isinstance(status, dict) and status.get("error_code") is not None:
            message = str(status.get("error_message", ""))[:_ERROR_TEXT_LENGTH]
            detail = f"error_code {status.get('error_code')}: {message}"
            if status.get("error_code") == 429:
                raise self._rate_limited(response, now, detail)
            raise BadResponseError(self.name, detail)
        if "error" in payload:
            raise BadResponseError(self.name, str(payload["error"])[:_ERROR_TEXT_LENGTH])

    def _rows(self, payload: Any, interval: Interval, now: datetime) -> list[_Row]:
        points = payload["prices"]
        if not isinstance(points, list):
            raise _MalformedBodyError("prices is not a list")

        buckets: dict[datetime, list[tuple[float, float]]] = {}
        for point in points:
            if not isinstance(point, list) or len(point) != 2:
                raise _MalformedBodyError(f"price point is not [time, price]: {point!r:.80}")
            moment_ms, price = _number(point[0]), _number(point[1])
            opened_at = _bucket_start(utc_from_unix(moment_ms / 1000), interval)
            buckets.setdefault(opened_at, []).append((moment_ms, price))

        rows = []
        for opened_at, bucket in buckets.items():
            prices = [price for _, price in sorted(bucket)]
            rows.append(
                _Row(
                    opened_at=opened_at,
                    open=prices[0],
                    high=max(prices),
                    low=min(prices),
                    close=prices[-1],
                    volume=None,
                    forming=opened_at + interval.length > now,
                )
            )
        return rows


def _number(value: object) -> float:
    """Read a JSON number or numeric string as a float; NaN stays NaN for the checks."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _MalformedBodyError(f"not a number: {value!r:.40}")
    try:
        return float(value)
    except ValueError as error:
        raise _MalformedBodyError(f"not a number: {value!r:.40}") from error


def _bucket_start(moment: datetime, interval: Interval) -> datetime:
    """Give the opening time of the candle of ``interval`` that holds ``moment``."""
    seconds = int(interval.length.total_seconds())
    return utc_from_unix(math.floor(moment.timestamp() / seconds) * seconds)


def _excerpt(response: httpx.Response) -> str:
    """Give the start of a body, on one line, for error messages."""
    try:
        text = response.text
    except (UnicodeDecodeError, LookupError):
        return "<undecodable body>"
    return " ".join(text.split())[:_ERROR_TEXT_LENGTH]
