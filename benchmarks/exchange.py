"""A Kraken OHLC endpoint on 127.0.0.1 replaying the embedded real hourly series as of a clock.

Derived data, made here: the candles are the real CryptoCompare hourly candles of
``core/dataset``, served in the shape of the recorded Kraken body
(``tests/fixtures/api/exchanges/kraken_ohlc_xbtusd_1h_trimmed.json``). The candle holding the
clock's time is still forming: it is cut at the clock's minute (its close moved that share of
the way from its open to its real close, its range narrowed the same way). Daily candles are
built from the hourly ones, the current day forming.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from aiohttp import web

from core.candles import Candle, Interval
from tests.emulators.loopback import LoopbackServer, json_response

KRAKEN_OHLC_PATH = "/0/public/OHLC"
KRAKEN_PAIR_KEY = "XXBTZUSD"
KRAKEN_MAX_ROWS = 720


class ReplayedKraken(LoopbackServer):
    """Answers ``GET /0/public/OHLC`` from real hourly candles, as of ``clock()``."""

    def __init__(self, hourly: Sequence[Candle], clock: Callable[[], datetime]) -> None:
        super().__init__()
        self._hourly = list(hourly)
        self._clock = clock
        self.requests = 0

    def build_app(self) -> web.Application:
        """Return the one route."""
        app = web.Application()
        app.router.add_get(KRAKEN_OHLC_PATH, self._ohlc)
        return app

    async def _ohlc(self, request: web.Request) -> web.Response:
        self.requests += 1
        minutes = int(request.query.get("interval", "1"))
        since = datetime.fromtimestamp(int(request.query.get("since", "0")), tz=UTC)
        now = self._clock()
        hourly = _as_of(self._hourly, now)
        candles = hourly if minutes == 60 else _daily(hourly)
        length = Interval.HOUR.length if minutes == 60 else Interval.DAY.length
        committed = [candle for candle in candles if candle.opened_at + length <= now]
        rows = [candle for candle in candles if candle.opened_at > since][-KRAKEN_MAX_ROWS:]
        last = committed[-1].opened_at if committed else since
        return json_response(
            {
                "error": [],
                "result": {
                    KRAKEN_PAIR_KEY: [_kraken_row(candle) for candle in rows],
                    "last": int(last.timestamp()),
                },
            }
        )


def _as_of(hourly: Sequence[Candle], now: datetime) -> list[Candle]:
    """The candles opened by ``now``, the last one cut at ``now`` if it is still forming."""
    seen = [candle for candle in hourly if candle.opened_at <= now]
    if not seen or seen[-1].opened_at + Interval.HOUR.length <= now:
        return seen

    forming = seen[-1]
    share = (now - forming.opened_at) / Interval.HOUR.length
    close = forming.open + (forming.close - forming.open) * share
    body_high, body_low = max(forming.open, close), min(forming.open, close)
    cut = Candle(
        symbol=forming.symbol,
        interval=forming.interval,
        opened_at=forming.opened_at,
        open=forming.open,
        high=body_high + (forming.high - max(forming.open, forming.close)) * share,
        low=body_low - (min(forming.open, forming.close) - forming.low) * share,
        close=close,
        volume=(forming.volume or 0.0) * share,
        source="derived",
    )
    return [*seen[:-1], cut]


def _daily(hourly: Sequence[Candle]) -> list[Candle]:
    """Daily candles aggregated from hourly ones (UTC days)."""
    days = []
    for day, group in itertools.groupby(hourly, key=lambda candle: candle.opened_at.date()):
        hours = list(group)
        days.append(
            Candle(
                symbol=hours[0].symbol,
                interval=Interval.DAY,
                opened_at=datetime(day.year, day.month, day.day, tzinfo=UTC),
                open=hours[0].open,
                high=max(hour.high for hour in hours),
                low=min(hour.low for hour in hours),
                close=hours[-1].close,
                volume=sum(hour.volume or 0.0 for hour in hours),
                source="derived",
            )
        )
    return days


def _kraken_row(candle: Candle) -> list[object]:
    """``[time, open, high, low, close, vwap, volume, count]``, prices as strings like Kraken."""
    return [
        int(candle.opened_at.timestamp()),
        f"{candle.open:.2f}",
        f"{candle.high:.2f}",
        f"{candle.low:.2f}",
        f"{candle.close:.2f}",
        f"{(candle.high + candle.low + candle.close) / 3:.2f}",
        f"{candle.volume or 0.0:.8f}",
        0,
    ]
