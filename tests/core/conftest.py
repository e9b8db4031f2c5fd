"""Real candles from the embedded data set, loaded once for the core tests."""

from __future__ import annotations

import pytest

from core.candles import Candle, Interval
from tests.core.real_candles import load_candles


@pytest.fixture(scope="session")
def hourly_candles() -> list[Candle]:
    """CryptoCompare hourly candles, 2025-05-12 12:00Z to 2025-11-22 23:00Z."""
    return load_candles("btc_usd_hourly_cryptocompare.csv", Interval.HOUR, "cryptocompare")


@pytest.fixture(scope="session")
def bitstamp_daily_candles() -> list[Candle]:
    """Bitstamp daily candles, 2014-11-28 to 2025-07-04."""
    return load_candles("btc_usd_daily_bitstamp.csv", Interval.DAY, "bitstamp")
