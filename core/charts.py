"""Price charts as PNG images: matplotlib's Agg canvas, drawn in a worker thread.

Figures are built with ``matplotlib.figure.Figure`` and never registered with pyplot, so
nothing global keeps them alive; each one is cleared once its PNG is written. Rendering is
serialised by a lock because matplotlib's shared caches (fonts, text layout) are not meant
for several threads at once; one chart takes a few tenths of a second.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from core.candles import SYMBOL, Candle
from core.errors import NoDataError
from core.windows import Window, parse_window
from storage.database import Database
from storage.repositories import PriceRepository

CHART_WIDTH_PX = 1200
CHART_HEIGHT_PX = 675
CHART_DPI = 100
DEFAULT_CHART_WINDOW = "7d"
# Fewer points than this make no line worth drawing.
MIN_CHART_POINTS = 2

_RENDER_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class PriceSeries:
    """The candles of one window, oldest first, ready to be drawn.

    Attributes:
        window: The window asked for.
        candles: Its stored candles, oldest first.
    """

    window: Window
    candles: tuple[Candle, ...]

    @property
    def as_of(self) -> datetime:
        """When the newest candle closed: the time the chart is true at."""
        newest = self.candles[-1]
        return newest.opened_at + newest.interval.length


@dataclass(frozen=True, slots=True)
class ChartLabels:
    """The words on a chart, already in the reader's language."""

    title: str
    x_label: str
    y_label: str


class ChartService:
    """Loads a window's candles and draws them off the event loop."""

    def __init__(self, database: Database) -> None:
        self._prices = PriceRepository(database)

    async def series(self, argument: str | None = None) -> PriceSeries:
        """The stored candles of the window asked for (seven days when none is named).

        Raises:
            InputError: The argument is not a window.
            NoDataError: Too few candles are stored to draw that window.
        """
        window = parse_window(argument, DEFAULT_CHART_WINDOW)
        candles = await self._prices.window(SYMBOL, window.interval, window.duration)
        if len(candles) < MIN_CHART_POINTS:
            raise NoDataError(f"only {len(candles)} candles stored for {window.label}")
        return PriceSeries(window, tuple(candles))

    async def render(
        self,
        series: PriceSeries,
        labels: ChartLabels,
        *,
        width_px: int = CHART_WIDTH_PX,
        height_px: int = CHART_HEIGHT_PX,
    ) -> bytes:
        """The chart as PNG bytes, drawn in a worker thread so the event loop keeps going."""
        return await asyncio.to_thread(
            render_png, series.candles, labels, width_px=width_px, height_px=height_px
        )


def render_png(
    candles: Sequence[Candle],
    labels: ChartLabels,
    *,
    width_px: int = CHART_WIDTH_PX,
    height_px: int = CHART_HEIGHT_PX,
) -> bytes:
    """Draw closing prices over time, with the candles' high-low range shaded, as a PNG.

    Blocking: call it through :meth:`ChartService.render` from async code.

    Raises:
        NoDataError: Fewer than two candles were given.
    """
    if len(candles) < MIN_CHART_POINTS:
        raise NoDataError(f"{len(candles)} candles are too few to draw")

    # Imported here: matplotlib takes half a second to import, which commands that draw
    # nothing (and the console's one-shot runs) need not pay.
    from matplotlib import dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    closed_at = mdates.date2num([candle.opened_at + candle.interval.length for candle in candles])
    closes = [candle.close for candle in candles]
    lows = [candle.low for candle in candles]
    highs = [candle.high for candle in candles]

    with _RENDER_LOCK:
        figure = Figure(figsize=(width_px / CHART_DPI, height_px / CHART_DPI), dpi=CHART_DPI)
        try:
            FigureCanvasAgg(figure)
            axes = figure.add_subplot()
            axes.xaxis_date(tz=UTC)
            axes.fill_between(closed_at, lows, highs, color="#f7931a", alpha=0.18, linewidth=0)
            axes.plot(closed_at, closes, color="#d4700a", linewidth=1.8)

            locator = mdates.AutoDateLocator(tz=UTC, minticks=4, maxticks=9)
            axes.xaxis.set_major_locator(locator)
            axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
            axes.yaxis.set_major_formatter(FuncFormatter(_dollars))
            axes.set_xlim(closed_at[0], closed_at[-1])
            axes.grid(True, color="#cccccc", linewidth=0.6, alpha=0.7)
            axes.set_title(labels.title, fontsize=13)
            axes.set_xlabel(labels.x_label)
            axes.set_ylabel(labels.y_label)
            figure.tight_layout()

            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=CHART_DPI)
            return buffer.getvalue()
        finally:
            figure.clear()


def _dollars(value: float, _position: int | None) -> str:
    return f"${value:,.0f}"
