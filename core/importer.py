"""The importer: price CSV files and RSS files into the database, idempotently.

It reads three CSV layouts, recognised by their header:

- the embedded hourly and daily files: ``timestamp,datetime_utc,open,...`` and
  ``date,timestamp,open,...``, oldest first;
- CryptoDataDownload's raw layout: a banner line (their address), then
  ``unix,date,symbol,open,high,low,close,Volume BTC,Volume USD``, newest first.

The candle interval is read from the spacing of the timestamps (one hour or one day).
Rows that cannot be stored are counted by reason and skipped; the rest of the file goes on.
Loading a file twice stores nothing new: candles are upserted on their unique key and
stories are keyed.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import logging
import math
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path

from core.candles import (
    SYMBOL,
    Candle,
    Interval,
    describe_rejections,
    rejection_reason,
    utc_from_unix,
)
from core.errors import BitcoinAnalyzerError, InputError
from core.headlines import parse_feed
from storage.repositories import NewsRepository, PriceRepository

logger = logging.getLogger(__name__)

EMBEDDED_PRICE_FILES = (
    # Bitstamp first: where the two daily series overlap, the later CryptoCompare file wins,
    # so that the daily and hourly series agree from May 2025 on, whatever the load order.
    "btc_usd_daily_bitstamp.csv",
    "btc_usd_daily_from_hourly_cryptocompare.csv",
    "btc_usd_hourly_cryptocompare.csv",
)
EMBEDDED_FEED_FILES = (
    "coindesk_rss_2026-09-25.xml",
    "cointelegraph_rss_2026-09-30.xml",
    "decrypt_rescraped_2026-02-02.xml",
    "bitcoinmagazine_rescraped_2026-02-15.xml",
)

# A file's timestamps may be in milliseconds; no real candle opens after year 5138 in seconds.
MILLISECONDS_THRESHOLD = 1e11
# A volume pair counts as swapped when volume_usd / volume_btc misses the close by this factor.
SWAPPED_VOLUME_TOLERANCE = 0.5


@dataclass
class FileReport:
    """What one file gave: rows read, rows or stories stored, and rejections by reason."""

    name: str
    kind: str
    read: int = 0
    stored: int = 0
    new: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    error: str | None = None

    def summary(self) -> str:
        """One line for the command line and the log."""
        if self.error:
            return f"{self.name}: failed, {self.error}"
        replaced = f", {self.stored - self.new} replaced" if self.kind == "rows" else ""
        line = (
            f"{self.name}: {self.read} {self.kind} read, {self.stored} stored "
            f"({self.new} new{replaced})"
        )
        if self.rejected:
            line += ", " + describe_rejections(self.rejected)
        return line


@dataclass(frozen=True, slots=True)
class ParsedPrices:
    """The candles of one CSV file, with the rows it refused."""

    candles: list[Candle]
    rejected: Counter[str]
    read: int


def parse_price_csv(text: str, source: str) -> ParsedPrices:
    """Read a price CSV in one of the known layouts.

    Args:
        text: The file's content.
        source: The name stored with each candle (``bitstamp``, ``cryptocompare``...).

    Raises:
        InputError: The header is not one of the known layouts, or the spacing of the
            timestamps is neither an hour nor a day.
    """
    lines = text.splitlines()
    if lines and lines[0].lower().startswith(("http://", "https://")):
        lines = lines[1:]
    if not lines:
        raise InputError("empty price file", code="file_empty")

    reader = csv.DictReader(lines)
    header = {name.strip().lower() for name in reader.fieldnames or []}
    if not {"open", "high", "low", "close"} <= header or not header & {"unix", "timestamp"}:
        raise InputError(
            "unknown price file layout: expected a header with unix or timestamp, "
            "open, high, low and close",
            code="file_layout",
        )

    rejected: Counter[str] = Counter()
    raw_rows = list(_rows(reader, rejected))
    interval = _interval_from_spacing([opened_at for opened_at, *_ in raw_rows])

    candles: dict[datetime, Candle] = {}
    for opened_at, open_, high, low, close, volume in sorted(raw_rows, key=lambda row: row[0]):
        if opened_at in candles:
            rejected["duplicate_timestamp"] += 1
            continue
        candle = Candle(SYMBOL, interval, opened_at, open_, high, low, close, volume, source)
        reason = rejection_reason(candle)
        if reason:
            rejected[reason] += 1
            continue
        candles[opened_at] = candle

    read = len(raw_rows) + rejected["malformed_row"]
    return ParsedPrices(candles=list(candles.values()), rejected=rejected, read=read)


def _rows(
    reader: csv.DictReader[str], rejected: Counter[str]
) -> Iterator[tuple[datetime, float, float, float, float, float | None]]:
    """Yield each row's values as numbers, counting the rows that are not numbers."""
    for raw in reader:
        row = {(key or "").strip().lower(): (value or "").strip() for key, value in raw.items()}
        try:
            stamp = float(row.get("unix") or row["timestamp"])
            if stamp > MILLISECONDS_THRESHOLD:
                stamp /= 1000
            opened_at = utc_from_unix(stamp)
            open_, high, low, close = (
                float(row[name]) for name in ("open", "high", "low", "close")
            )
        except (KeyError, ValueError, OverflowError, OSError):
            rejected["malformed_row"] += 1
            continue

        yield opened_at, open_, high, low, close, _volume_in_btc(row, close)


def _volume_in_btc(row: dict[str, str], close: float) -> float | None:
    """The row's volume in BTC, undoing the swapped columns some upstream files have.

    CryptoDataDownload's Bitstamp file lists USD volume under ``Volume BTC`` (and the
    reverse) for its older rows; the true BTC volume is the one that, times the close,
    gives roughly the USD volume.
    """
    try:
        volume_btc = float(row.get("volume_btc") or row.get("volume btc") or "nan")
        volume_usd = float(row.get("volume_usd") or row.get("volume usd") or "nan")
    except ValueError:
        return None
    if not math.isfinite(volume_btc):
        return None
    if not math.isfinite(volume_usd) or volume_btc <= 0 or close <= 0:
        return volume_btc

    ratio_if_right = volume_usd / volume_btc / close
    ratio_if_swapped = volume_btc / volume_usd / close if volume_usd > 0 else math.inf
    if abs(math.log(ratio_if_swapped)) + SWAPPED_VOLUME_TOLERANCE < abs(math.log(ratio_if_right)):
        return volume_usd
    return volume_btc


def _interval_from_spacing(times: list[datetime]) -> Interval:
    """Tell hourly from daily candles by the usual gap between two of them."""
    ordered = sorted(set(times))
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(ordered)]
    if not gaps:
        raise InputError("a price file needs at least two rows", code="file_too_short")

    usual_gap = statistics.median(gaps)
    for interval in Interval:
        if usual_gap == interval.length.total_seconds():
            return interval
    raise InputError(
        f"candles are {usual_gap:.0f} s apart; only hourly and daily files are supported",
        code="file_interval",
    )


def _source_from_name(name: str) -> str:
    """Guess who made a file from its name, for the ``source`` column."""
    lowered = name.lower()
    for known in ("bitstamp", "cryptocompare", "coingecko", "binance", "kraken", "coinbase"):
        if known in lowered:
            return known
    return "csv"


class Importer:
    """Loads price and news files into the repositories, reporting per file."""

    def __init__(self, prices: PriceRepository, news: NewsRepository) -> None:
        self._prices = prices
        self._news = news

    async def import_prices(self, text: str, name: str, source: str | None = None) -> FileReport:
        """Parse one price CSV and upsert its candles."""
        report = FileReport(name=name, kind="rows")
        try:
            parsed = parse_price_csv(text, source or _source_from_name(name))
        except InputError as error:
            report.error = str(error)
            logger.warning("Price file %s refused: %s", name, error)
            return report

        report.read = parsed.read
        report.rejected = parsed.rejected
        before = await self._prices.count()
        report.stored = await self._prices.upsert(parsed.candles)
        report.new = await self._prices.count() - before
        if parsed.rejected:
            logger.warning(
                "Price file %s: %d rows rejected (%s)",
                name,
                sum(parsed.rejected.values()),
                dict(parsed.rejected),
            )
        return report

    async def import_feed(self, content: bytes, name: str, source: str) -> FileReport:
        """Parse one RSS or Atom document and store the stories not stored yet."""
        report = FileReport(name=name, kind="stories")
        try:
            parsed = parse_feed(content, source)
        except BitcoinAnalyzerError as error:
            report.error = str(error)
            logger.warning("Feed file %s refused: %s", name, report.error)
            return report

        report.read = len(parsed.headlines) + parsed.dropped
        if parsed.dropped:
            report.rejected["no_title"] = parsed.dropped
        report.stored = len(parsed.headlines)
        report.new = await self._news.add(parsed.headlines)
        return report

    async def import_path(self, path: Path) -> FileReport:
        """Import a file the user names: a CSV of prices, or an RSS or Atom feed."""
        try:
            content = await asyncio.to_thread(path.read_bytes)
        except OSError as error:
            return FileReport(name=str(path), kind="rows", error=error.strerror or str(error))

        if path.suffix.lower() == ".csv":
            return await self.import_prices(content.decode("utf-8-sig", "replace"), path.name)
        return await self.import_feed(content, path.name, _feed_source(path.name))

    async def import_embedded(self) -> list[FileReport]:
        """Import the data set shipped inside the package (see ``core/dataset/README.md``)."""
        dataset = resources.files("core") / "dataset"
        reports = []
        for name in EMBEDDED_PRICE_FILES:
            text = (dataset / name).read_text(encoding="utf-8")
            reports.append(await self.import_prices(text, name))
        for name in EMBEDDED_FEED_FILES:
            content = (dataset / name).read_bytes()
            reports.append(await self.import_feed(content, name, _feed_source(name)))
        return reports

    async def seed_if_empty(self) -> list[FileReport]:
        """Import the embedded set when no candle is stored yet; otherwise do nothing."""
        if await self._prices.count() > 0:
            return []

        logger.info("Empty database: seeding it from the embedded data set")
        reports = await self.import_embedded()
        for report in reports:
            logger.info("Seeded %s", report.summary())
        return reports


def _feed_source(file_name: str) -> str:
    """The feed's short name from a file name such as ``coindesk_rss_2026-09-25.xml``."""
    stem = Path(file_name).stem
    return stem.split("_", 1)[0].lower() or "feed"
