"""Price charts drawn from the embedded real candles, as PNG files of a known size."""

from __future__ import annotations

import gc
import struct
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import core.charts
from core.candles import Interval
from core.charts import CHART_HEIGHT_PX, CHART_WIDTH_PX, ChartLabels, ChartService, render_png
from core.errors import InputError, NoDataError
from storage.database import Database, open_database
from tests.core.real_candles import load_candles
from tests.support.seeded import copy_seeded

LABELS = ChartLabels("BTC-USD over 7d, as of 2025-11-23 00:00 UTC", "Time (UTC)", "Price (USD)")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    assert data[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture
async def seeded(seeded_template: Path, tmp_path: Path) -> AsyncIterator[Database]:
    path = copy_seeded(seeded_template, tmp_path / "data")
    database = open_database(f"sqlite+aiosqlite:///{path}")
    yield database
    await database.close()


async def test_seven_days_of_real_candles_make_a_png_of_the_chart_size(seeded: Database) -> None:
    charts = ChartService(seeded)

    series = await charts.series("7d")
    started = time.perf_counter()
    png = await charts.render(series, LABELS)
    elapsed = time.perf_counter() - started

    assert png_size(png) == (CHART_WIDTH_PX, CHART_HEIGHT_PX)
    assert (series.window.label, len(series.candles)) == ("7d", 169)
    assert series.as_of.isoformat() == "2025-11-23T00:00:00+00:00"
    assert 20_000 < len(png) < 1_000_000
    assert elapsed < 5.0


async def test_the_default_window_is_seven_days_and_a_year_uses_daily_candles(
    seeded: Database,
) -> None:
    charts = ChartService(seeded)

    week = await charts.series(None)
    year = await charts.series("1y")
    png = await charts.render(year, LABELS, width_px=800, height_px=450)

    assert week.window.label == "7d"
    assert (year.window.interval.value, len(year.candles)) == ("1d", 366)
    assert png_size(png) == (800, 450)


async def test_a_bad_window_is_an_input_error(seeded: Database) -> None:
    with pytest.raises(InputError) as raised:
        await ChartService(seeded).series("banana")

    assert raised.value.params["text"] == "banana"


async def test_an_empty_database_has_no_chart(database: Database) -> None:
    with pytest.raises(NoDataError):
        await ChartService(database).series("7d")


async def test_drawing_runs_off_the_event_loop_thread(
    seeded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    charts = ChartService(seeded)
    series = await charts.series("24h")
    threads: list[threading.Thread] = []

    def watched(*args: Any, **kwargs: Any) -> bytes:
        threads.append(threading.current_thread())
        return render_png(*args, **kwargs)

    monkeypatch.setattr(core.charts, "render_png", watched)
    png = await charts.render(series, LABELS)

    assert png[:8] == PNG_SIGNATURE
    assert len(threads) == 1
    assert threads[0] is not threading.main_thread()


def test_many_charts_leave_no_figure_behind() -> None:
    """Figures are never registered with pyplot, and each is cleared after its PNG."""
    from matplotlib.figure import Figure

    candles = load_candles("btc_usd_hourly_cryptocompare.csv", Interval.HOUR, "cryptocompare")
    candles = candles[-169:]
    for _ in range(20):
        render_png(candles, LABELS, width_px=320, height_px=180)
    gc.collect()

    assert [obj for obj in gc.get_objects() if isinstance(obj, Figure)] == []
