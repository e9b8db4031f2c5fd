"""Helpers that read the real embedded candles and cut windows out of them for tests."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from core.candles import SYMBOL, Candle, Interval

DATASET = Path(__file__).resolve().parents[2] / "core" / "dataset"


def load_candles(name: str, interval: Interval, source: str) -> list[Candle]:
    """Read one of the embedded CSV files (oldest first) into candles."""
    with (DATASET / name).open(newline="", encoding="utf-8") as handle:
        return [
            Candle(
                symbol=SYMBOL,
                interval=interval,
                opened_at=datetime.fromtimestamp(int(row["timestamp"]), tz=UTC),
                open=float(row["open"]),
                high=float(row["high"]),
                low=float(row["low"]),
                close=float(row["close"]),
                volume=float(row["volume_btc"]),
                source=source,
            )
            for row in csv.DictReader(handle)
        ]


def ending_at(candles: list[Candle], newest: datetime, count: int) -> list[Candle]:
    """The ``count`` candles ending with the one opened at ``newest``."""
    index = next(i for i, candle in enumerate(candles) if candle.opened_at == newest)
    return candles[index - count + 1 : index + 1]
