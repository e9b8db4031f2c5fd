"""Price candles: the one shape every source and the storage agree on, and its checks."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

SYMBOL = "BTC-USD"


class Interval(StrEnum):
    """The candle lengths the bot stores."""

    HOUR = "1h"
    DAY = "1d"

    @property
    def length(self) -> timedelta:
        """How long one candle of this interval lasts."""
        return timedelta(hours=1) if self is Interval.HOUR else timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Candle:
    """One open-high-low-close candle, opened at ``opened_at`` (UTC).

    Attributes:
        symbol: The pair, always ``BTC-USD`` for now.
        interval: The candle length.
        opened_at: The time the candle opened, timezone-aware UTC.
        open: The first price of the candle, in US dollars.
        high: The highest price.
        low: The lowest price.
        close: The last price.
        volume: The traded volume in BTC, when the source gives it.
        source: Who gave the candle (``cryptocompare``, ``kraken``...).
    """

    symbol: str
    interval: Interval
    opened_at: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float | None
    source: str


def rejection_reason(candle: Candle, now: datetime | None = None) -> str | None:
    """Tell why a candle must not be stored, or return None when it is sound.

    The reasons are short stable words, so that callers can count them.

    Args:
        candle: The candle to check.
        now: The present time; a candle that opens after it is refused. None skips that
            check (for historical files).
    """
    prices = (candle.open, candle.high, candle.low, candle.close)
    if not all(isinstance(price, float | int) and math.isfinite(price) for price in prices):
        return "non_finite_price"
    if min(prices) <= 0:
        return "non_positive_price"
    if candle.high < candle.low:
        return "high_below_low"
    if (
        not candle.low <= candle.open <= candle.high
        or not candle.low <= candle.close <= candle.high
    ):
        return "open_close_outside_range"
    if candle.volume is not None and (not math.isfinite(candle.volume) or candle.volume < 0):
        return "bad_volume"
    if candle.opened_at.tzinfo is None:
        return "naive_timestamp"
    if now is not None and candle.opened_at > now:
        return "future_timestamp"
    return None


def describe_rejections(rejected: Mapping[str, int]) -> str:
    """``3 rejected (1 high_below_low, 2 non_finite_price)``, for reports."""
    reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(rejected.items()))
    return f"{sum(rejected.values())} rejected ({reasons})"


def utc_from_unix(seconds: float) -> datetime:
    """Turn a Unix timestamp in seconds into an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, tz=UTC)
