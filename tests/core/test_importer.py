"""The importer on the real embedded files, the raw upstream layout, and broken rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.candles import SYMBOL, Interval
from core.errors import InputError
from core.importer import Importer, parse_price_csv
from storage.database import Database
from storage.repositories import NewsRepository, PriceRepository
from tests.conftest import FIXTURES

HOURLY_ROWS = 4668
BITSTAMP_DAYS = 3872
CRYPTOCOMPARE_DAYS = 194
OVERLAPPING_DAYS = 53


@pytest.fixture
def importer(database: Database) -> Importer:
    return Importer(PriceRepository(database), NewsRepository(database))


async def test_embedded_set_loads_every_real_row_and_twice_adds_nothing(
    importer: Importer, database: Database
) -> None:
    first = await importer.import_embedded()
    second = await importer.import_embedded()

    prices = PriceRepository(database)
    expected_rows = HOURLY_ROWS + BITSTAMP_DAYS + CRYPTOCOMPARE_DAYS - OVERLAPPING_DAYS
    assert [report.error for report in first] == [None] * len(first)
    assert {report.name: report.read for report in first if report.kind == "rows"} == {
        "btc_usd_daily_bitstamp.csv": BITSTAMP_DAYS,
        "btc_usd_daily_from_hourly_cryptocompare.csv": CRYPTOCOMPARE_DAYS,
        "btc_usd_hourly_cryptocompare.csv": HOURLY_ROWS,
    }
    assert await prices.count() == expected_rows
    assert [report.new for report in second] == [0] * len(second)
    assert await prices.newest_time(SYMBOL, Interval.HOUR) == datetime(
        2025, 11, 22, 23, tzinfo=UTC
    )
    assert await prices.newest_time(SYMBOL, Interval.DAY) == datetime(2025, 11, 22, tzinfo=UTC)
    assert sum(report.new for report in first if report.kind == "stories") > 0


async def test_overlapping_days_keep_the_cryptocompare_candle(
    importer: Importer, database: Database
) -> None:
    await importer.import_embedded()

    days = await PriceRepository(database).window(
        SYMBOL,
        Interval.DAY,
        datetime(2025, 11, 22, tzinfo=UTC) - datetime(2025, 5, 13, tzinfo=UTC),
    )

    # 2025-05-13 in btc_usd_daily_from_hourly_cryptocompare.csv: close 104136.59.
    assert (days[0].opened_at.date().isoformat(), days[0].close, days[0].source) == (
        "2025-05-13",
        104136.59,
        "cryptocompare",
    )


def test_raw_bitstamp_layout_is_read_oldest_first_with_volumes_unswapped() -> None:
    text = (FIXTURES / "prices" / "raw_Bitstamp_BTCUSD_d.csv").read_text()

    parsed = parse_price_csv(text, "bitstamp")

    by_day = {candle.opened_at.date().isoformat(): candle for candle in parsed.candles}
    assert parsed.candles[0].opened_at == datetime(2014, 11, 28, tzinfo=UTC)
    assert parsed.candles[-1].opened_at == datetime(2025, 7, 5, tzinfo=UTC)
    assert parsed.candles[0].interval is Interval.DAY
    # Both rows as the corrected btc_usd_daily_bitstamp.csv gives them: the 2014 row had
    # its volume columns swapped upstream, the 2025 row did not.
    assert by_day["2014-11-28"].volume == pytest.approx(8617.15, abs=0.01)
    assert by_day["2025-07-04"].volume == pytest.approx(607.8822874, abs=1e-6)
    assert (parsed.read, sum(parsed.rejected.values())) == (BITSTAMP_DAYS + 1, 0)


def test_broken_rows_are_counted_by_reason_and_the_rest_is_kept() -> None:
    # Derived from the first rows of btc_usd_hourly_cryptocompare.csv, broken on purpose.
    text = "\n".join(
        [
            "timestamp,datetime_utc,open,high,low,close,volume_btc,volume_usd",
            "1747051200,2025-05-12T12:00:00Z,103749.05,104135.09,103716.73,103889.66,819.95,1",
            "1747054800,2025-05-12T13:00:00Z,0,104630.29,103673.73,104332.71,1898.59,1",
            "1747058400,2025-05-12T14:00:00Z,nan,104630.29,103673.73,104332.71,1898.59,1",
            "1747062000,2025-05-12T15:00:00Z,104332.71,103000.00,104630.29,104332.71,1.0,1",
            "1747065600,2025-05-12T16:00:00Z,104332.71,104630.29,103673.73,104400.00,1.0,1",
            "1747065600,2025-05-12T16:00:00Z,104332.71,104630.29,103673.73,104401.00,1.0,1",
            "1747069200,2025-05-12T17:00:00Z,not-a-price,1,1,1,1,1",
        ]
    )

    parsed = parse_price_csv(text, "cryptocompare")

    assert [candle.close for candle in parsed.candles] == [103889.66, 104400.00]
    assert dict(parsed.rejected) == {
        "non_positive_price": 1,
        "non_finite_price": 1,
        "high_below_low": 1,
        "duplicate_timestamp": 1,
        "malformed_row": 1,
    }
    assert parsed.read == 7


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "file_empty"),
        ("a,b,c\n1,2,3\n", "file_layout"),
        ("timestamp,open,high,low,close\n1747051200,1,1,1,1\n", "file_too_short"),
        ("timestamp,open,high,low,close\n0,1,1,1,1\n60,1,1,1,1\n120,1,1,1,1\n", "file_interval"),
    ],
)
def test_unusable_files_are_refused_with_a_reason(text: str, code: str) -> None:
    with pytest.raises(InputError) as refused:
        parse_price_csv(text, "csv")

    assert refused.value.code == code


async def test_a_missing_file_is_reported_not_raised(importer: Importer, tmp_path) -> None:
    report = await importer.import_path(tmp_path / "missing.csv")

    assert report.error is not None
    assert report.stored == 0
