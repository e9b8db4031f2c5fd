"""Tests for the trend facts, on the real embedded prices.

The expected numbers were computed once, independently of this code, with numpy
(``polyfit`` for the slope, ``std(ddof=1)`` of ``diff(log(close))`` for the volatility) and
awk (first, last, high, low) straight from the CSV columns, and are written here as literals.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime

import pytest

from core.analysis import (
    MIN_POINTS,
    Trend,
    TrendFacts,
    VolatilityLabel,
    compute_facts,
    flat_threshold_pct,
    volatility_label,
)
from core.candles import Candle, Interval
from core.errors import NoDataError
from core.windows import parse_window
from tests.core.real_candles import ending_at

NEWEST_HOUR = datetime(2025, 11, 22, 23, tzinfo=UTC)
NEWEST_BITSTAMP_DAY = datetime(2025, 7, 4, tzinfo=UTC)


def expect(
    facts: TrendFacts,
    *,
    first_close: float,
    last_close: float,
    change_pct: float,
    high: float,
    low: float,
    slope: float,
    fitted_change_pct: float,
    volatility: float,
) -> None:
    """Compare the facts with independently computed values."""
    assert facts.first_close == first_close
    assert facts.last_close == last_close
    assert facts.high == high
    assert facts.low == low
    assert facts.change_pct == pytest.approx(change_pct, abs=1e-5)
    assert facts.slope == pytest.approx(slope, abs=1e-5)
    assert facts.fitted_change_pct == pytest.approx(fitted_change_pct, abs=1e-5)
    assert facts.volatility == pytest.approx(volatility, abs=1e-5)


def test_last_24_hours_are_flat_and_normal(hourly_candles: list[Candle]) -> None:
    window = parse_window("24h")
    candles = ending_at(hourly_candles, NEWEST_HOUR, 24)

    facts = compute_facts(candles, window)

    expect(
        facts,
        first_close=84690.55,
        last_close=84696.98,
        change_pct=0.007592,
        high=85562.12,
        low=83462.76,
        slope=137.291374,
        fitted_change_pct=0.155926,
        volatility=37.23065,
    )
    assert facts.points == 24
    assert facts.interval == Interval.HOUR
    assert facts.oldest_at == datetime(2025, 11, 22, 0, tzinfo=UTC)
    assert facts.newest_at == NEWEST_HOUR
    assert facts.trend == Trend.FLAT
    assert facts.flat_threshold_pct == pytest.approx(0.75)
    assert facts.volatility_label == VolatilityLabel.NORMAL


def test_last_6_hours(hourly_candles: list[Candle]) -> None:
    facts = compute_facts(ending_at(hourly_candles, NEWEST_HOUR, 6), parse_window("6h"))

    expect(
        facts,
        first_close=84616.08,
        last_close=84696.98,
        change_pct=0.095608,
        high=85213.29,
        low=84206.15,
        slope=1211.314286,
        fitted_change_pct=0.298224,
        volatility=42.437614,
    )
    assert facts.trend == Trend.FLAT


def test_last_7_days_fell_and_were_volatile(hourly_candles: list[Candle]) -> None:
    facts = compute_facts(ending_at(hourly_candles, NEWEST_HOUR, 168), parse_window("7d"))

    expect(
        facts,
        first_close=95341.08,
        last_close=84696.98,
        change_pct=-11.164233,
        high=96574.81,
        low=80562.05,
        slope=-1902.044799,
        fitted_change_pct=-14.67503,
        volatility=65.464784,
    )
    assert facts.oldest_at == datetime(2025, 11, 16, 0, tzinfo=UTC)
    assert facts.trend == Trend.DOWN
    assert facts.volatility_label == VolatilityLabel.VOLATILE


def test_last_30_days_fell(hourly_candles: list[Candle]) -> None:
    facts = compute_facts(ending_at(hourly_candles, NEWEST_HOUR, 720), parse_window("30d"))

    expect(
        facts,
        first_close=110559.35,
        last_close=84696.98,
        change_pct=-23.392296,
        high=116395.5,
        low=80562.05,
        slope=-926.003927,
        fitted_change_pct=-27.036457,
        volatility=49.853986,
    )
    assert facts.points == 720
    assert facts.oldest_at == datetime(2025, 10, 24, 0, tzinfo=UTC)
    assert facts.trend == Trend.DOWN
    assert facts.volatility_label == VolatilityLabel.NORMAL


def test_one_year_of_bitstamp_days_rose(bitstamp_daily_candles: list[Candle]) -> None:
    window = parse_window("1y")
    candles = ending_at(bitstamp_daily_candles, NEWEST_BITSTAMP_DAY, 365)

    facts = compute_facts(candles, window)

    expect(
        facts,
        first_close=56632.0,
        last_close=108033.0,
        change_pct=90.763173,
        high=112000.0,
        low=49577.0,
        slope=136.483098,
        fitted_change_pct=58.742685,
        volatility=48.988663,
    )
    assert facts.interval == Interval.DAY
    assert facts.oldest_at == datetime(2024, 7, 5, tzinfo=UTC)
    assert facts.trend == Trend.UP
    assert facts.flat_threshold_pct == pytest.approx(14.32873, abs=1e-6)
    assert facts.volatility_label == VolatilityLabel.NORMAL


def test_ninety_bitstamp_days_rose(bitstamp_daily_candles: list[Candle]) -> None:
    candles = ending_at(bitstamp_daily_candles, NEWEST_BITSTAMP_DAY, 90)

    facts = compute_facts(candles, parse_window("90d"))

    expect(
        facts,
        first_close=78342.0,
        last_close=108033.0,
        change_pct=37.899211,
        high=112000.0,
        low=74434.0,
        slope=297.771198,
        fitted_change_pct=26.512495,
        volatility=39.47172,
    )
    assert facts.trend == Trend.UP


def test_a_rising_day(hourly_candles: list[Candle]) -> None:
    newest = datetime(2025, 11, 18, 23, tzinfo=UTC)

    facts = compute_facts(ending_at(hourly_candles, newest, 24), parse_window("24h"))

    assert facts.change_pct == pytest.approx(0.921611, abs=1e-5)
    assert facts.fitted_change_pct == pytest.approx(3.073598, abs=1e-5)
    assert facts.volatility == pytest.approx(56.562692, abs=1e-5)
    assert (facts.trend, facts.volatility_label) == (Trend.UP, VolatilityLabel.NORMAL)


def test_a_calm_day(hourly_candles: list[Candle]) -> None:
    newest = datetime(2025, 11, 15, 23, tzinfo=UTC)

    facts = compute_facts(ending_at(hourly_candles, newest, 24), parse_window("24h"))

    assert facts.change_pct == pytest.approx(0.484634, abs=1e-5)
    assert facts.fitted_change_pct == pytest.approx(-0.33084, abs=1e-5)
    assert facts.volatility == pytest.approx(32.584206, abs=1e-5)
    assert (facts.trend, facts.volatility_label) == (Trend.FLAT, VolatilityLabel.CALM)


def test_the_label_follows_the_shown_change_when_the_fit_points_the_other_way(
    hourly_candles: list[Candle],
) -> None:
    # 2025-10-21: the fitted line rises 2.47 % but the day ends 1.31 % lower; a reader sees
    # the fall, so the label must not say "up" (or "flat" on a move past the threshold).
    newest = datetime(2025, 10, 21, 23, tzinfo=UTC)

    facts = compute_facts(ending_at(hourly_candles, newest, 24), parse_window("24h"))

    assert facts.change_pct == pytest.approx(-1.310253, abs=1e-5)
    assert facts.fitted_change_pct == pytest.approx(2.474432, abs=1e-5)
    assert facts.volatility == pytest.approx(88.882522, abs=1e-5)
    assert (facts.trend, facts.volatility_label) == (Trend.DOWN, VolatilityLabel.VOLATILE)


@pytest.mark.parametrize(
    ("label", "threshold"),
    [
        ("6h", 0.375),
        ("24h", 0.75),
        ("7d", 1.984313),
        ("30d", 4.107919),
        ("90d", 7.115125),
        ("1y", 14.32873),
        ("2y", 15.0),
        ("10y", 15.0),
    ],
)
def test_flat_threshold_matches_the_documented_table(label: str, threshold: float) -> None:
    assert flat_threshold_pct(parse_window(label)) == pytest.approx(threshold, abs=1e-6)


@pytest.mark.parametrize(
    ("volatility", "label"),
    [
        (0.0, VolatilityLabel.CALM),
        (34.99, VolatilityLabel.CALM),
        (35.0, VolatilityLabel.NORMAL),
        (59.99, VolatilityLabel.NORMAL),
        (60.0, VolatilityLabel.VOLATILE),
        (150.0, VolatilityLabel.VOLATILE),
    ],
)
def test_volatility_labels(volatility: float, label: VolatilityLabel) -> None:
    assert volatility_label(volatility) == label


def test_three_points_are_enough(hourly_candles: list[Candle]) -> None:
    candles = ending_at(hourly_candles, NEWEST_HOUR, MIN_POINTS)

    facts = compute_facts(candles, parse_window("3h"))

    assert facts.points == 3


@pytest.mark.parametrize("count", [0, 1, 2])
def test_fewer_than_three_points_is_no_data(hourly_candles: list[Candle], count: int) -> None:
    candles = hourly_candles[-count:] if count else []

    with pytest.raises(NoDataError):
        compute_facts(candles, parse_window("24h"))


def test_unsorted_candles_are_a_programming_error(hourly_candles: list[Candle]) -> None:
    candles = list(reversed(hourly_candles[-24:]))

    with pytest.raises(ValueError, match="oldest first"):
        compute_facts(candles, parse_window("24h"))


def test_duplicate_times_are_a_programming_error(hourly_candles: list[Candle]) -> None:
    candles = [*hourly_candles[-3:], hourly_candles[-1]]

    with pytest.raises(ValueError, match="oldest first"):
        compute_facts(candles, parse_window("24h"))


def test_mixed_intervals_are_a_programming_error(
    hourly_candles: list[Candle], bitstamp_daily_candles: list[Candle]
) -> None:
    candles = [*bitstamp_daily_candles[-2:], *hourly_candles[-2:]]

    with pytest.raises(ValueError, match="mix intervals"):
        compute_facts(candles, parse_window("24h"))


def test_a_non_positive_close_is_a_programming_error(hourly_candles: list[Candle]) -> None:
    # Derived: the newest real candle with its close replaced by zero.
    broken = dataclasses.replace(hourly_candles[-1], close=0.0)

    with pytest.raises(ValueError, match="not positive"):
        compute_facts([*hourly_candles[-3:-1], broken], parse_window("3h"))


def test_facts_are_frozen(hourly_candles: list[Candle]) -> None:
    facts = compute_facts(hourly_candles[-24:], parse_window("24h"))

    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.points = 3  # type: ignore[misc]


@pytest.mark.parametrize(("label", "count"), [("30d", 720), ("7d", 168)])
def test_hourly_windows_are_fast(hourly_candles: list[Candle], label: str, count: int) -> None:
    candles = ending_at(hourly_candles, NEWEST_HOUR, count)

    assert best_seconds(candles, label) < 0.002


def test_a_year_of_days_is_fast(bitstamp_daily_candles: list[Candle]) -> None:
    candles = ending_at(bitstamp_daily_candles, NEWEST_BITSTAMP_DAY, 365)

    assert best_seconds(candles, "1y") < 0.002


def best_seconds(candles: list[Candle], label: str) -> float:
    """The fastest of 20 runs of compute_facts, in seconds."""
    window = parse_window(label)
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        compute_facts(candles, window)
        timings.append(time.perf_counter() - started)
    return min(timings)


@pytest.mark.parametrize("hours", [3, 6, 12, 24, 48, 72, 168, 336, 720])
def test_the_label_never_contradicts_the_change_on_real_hourly_windows(
    hourly_candles: list[Candle], hours: int
) -> None:
    # Regression: a beginner once read "gone up" beside a 13 % fall. Every window ending at
    # each day's last hour of the embedded data must label the change it shows.
    window = parse_window(f"{hours}h")
    for end in range(len(hourly_candles) - 1, hours, -24):
        facts = compute_facts(hourly_candles[end - hours : end + 1], window)
        expected = (
            Trend.UP
            if facts.change_pct > facts.flat_threshold_pct
            else Trend.DOWN
            if facts.change_pct < -facts.flat_threshold_pct
            else Trend.FLAT
        )
        assert facts.trend == expected
