"""Ingestion: upserting 100,000 hourly candles, and reading windows from 1,000,000 candles.

Method. Everything goes through the product's own ``PriceRepository`` (``upsert`` in batches of
1,000 rows in one transaction, ``window`` as /trend calls it), on a SQLite file with the
product's settings (WAL, ``synchronous=NORMAL``), and on PostgreSQL when the project's local
server support is present (a throwaway server on 127.0.0.1 started the way the test fixture
starts it, ``fsync=off``).

Synthetic candles, for volume only: 960,000 hourly candles ending 2025-11-22 23:00 UTC, made by
repeating the embedded real CryptoCompare hourly series (4,668 candles) back in time, every
other copy played backwards (its candles in reverse order, open and close swapped), so the
copies join without a jump and every price stays a real one; plus the 40,000 daily candles
aggregated from them. Together, 1,000,000 rows of one symbol.

* Upsert: the newest 100,000 synthetic hourly candles into an empty table, then the same
  100,000 again (every row a conflict, so an update), each timed as one call.
* Windows: the 1,000,000 rows are upserted (that time is reported too), then each window is
  read 200 times: ``/trend 24h`` (25 hourly rows), ``/trend 90d`` (91 daily rows, the product
  reads windows over 30 days from daily candles) and 90 days of hourly candles (2,161 rows).
  The same reads on the seeded database (the real data set, 8,700 rows) give the ratio that
  says how reading scales with the table's size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.support import (
    Context,
    Result,
    Row,
    ms,
    real_hourly_candles,
    sqlite_url,
    summarize_ms,
)
from core.candles import SYMBOL, Candle, Interval
from core.windows import parse_window
from storage.database import Database, open_database
from storage.repositories import PriceRepository

NAME = "ingestion"
TITLE = "Ingestion: upsert 100,000 candles, read windows from 1,000,000"
TABLE_HOURS = 960_000
TABLE_DAYS = TABLE_HOURS // 24
UPSERT_ROWS = 100_000
SERIES_END = datetime(2025, 11, 22, 23, tzinfo=UTC)
WINDOWS = (
    ("24h window (25 hourly rows)", Interval.HOUR, parse_window("24h").duration),
    ("90d window (91 daily rows)", Interval.DAY, parse_window("90d").duration),
    ("90 days of hourly rows (2,161)", Interval.HOUR, timedelta(days=90)),
)


@dataclasses.dataclass
class _Sizes:
    table_hours: int
    upsert_rows: int
    reads: int


def _sizes(quick: bool) -> _Sizes:
    if quick:
        return _Sizes(table_hours=96_000, upsert_rows=20_000, reads=50)
    return _Sizes(table_hours=TABLE_HOURS, upsert_rows=UPSERT_ROWS, reads=200)


async def run(context: Context) -> Result:
    """Measure on SQLite, then on PostgreSQL when it can be started; see the module docstring."""
    sizes = _sizes(context.quick)
    result = Result(NAME, TITLE, __doc__ or "")
    hourly = synthetic_hourly(sizes.table_hours)
    daily = daily_from_hourly(hourly)
    seeded = open_database(sqlite_url(await context.seeded_database()))
    try:
        await _measure_all(context, PriceRepository(seeded), hourly, daily, sizes, result)
    finally:
        await seeded.close()
    return result


async def _measure_all(
    context: Context,
    baseline: PriceRepository,
    hourly: Sequence[Candle],
    daily: Sequence[Candle],
    sizes: _Sizes,
    result: Result,
) -> None:

    async def sqlite_database(label: str) -> AsyncIterator[Database]:
        path = context.work_dir / NAME / f"{label}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        database = open_database(sqlite_url(path))
        try:
            yield database
        finally:
            await database.close()

    await _measure(
        "SQLite",
        contextlib.asynccontextmanager(sqlite_database),
        hourly,
        daily,
        baseline,
        sizes,
        result,
    )

    postgres = _postgres_support()
    if postgres is None:
        result.notes.append(
            "PostgreSQL: not measured, this tree has no local PostgreSQL server support "
            "(tests/support/postgres.py)."
        )
        return
    binaries = postgres.find_binaries()
    if binaries is None:
        result.notes.append(f"PostgreSQL: not measured, {postgres.INSTALL_HINT}.")
        return
    with postgres.running_postgres(binaries) as server:
        counter = itertools.count()

        async def postgres_database(label: str) -> AsyncIterator[Database]:
            name = f"bench_{label}_{next(counter)}"
            admin = open_database(server.url("postgres"))
            try:
                async with admin.engine.connect() as connection:
                    autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                    await autocommit.exec_driver_sql(f"CREATE DATABASE {name}")
            finally:
                await admin.close()
            database = open_database(server.url(name))
            try:
                yield database
            finally:
                await database.close()

        await _measure(
            "PostgreSQL",
            contextlib.asynccontextmanager(postgres_database),
            hourly,
            daily,
            baseline,
            sizes,
            result,
        )


def _postgres_support() -> Any:
    if importlib.util.find_spec("tests.support.postgres") is None:
        return None
    return importlib.import_module("tests.support.postgres")


async def _measure(
    label: str,
    database_for: Callable[[str], AbstractAsyncContextManager[Database]],
    hourly: Sequence[Candle],
    daily: Sequence[Candle],
    baseline: PriceRepository,
    sizes: _Sizes,
    result: Result,
) -> None:
    newest = hourly[-sizes.upsert_rows :]
    async with database_for("upsert") as database:
        await database.create_schema()
        prices = PriceRepository(database)
        inserted = await _timed(prices.upsert(newest))
        updated = await _timed(prices.upsert(newest))
    result.rows += [
        Row(f"{label}: upsert {len(newest):,} new hourly candles", _rate(len(newest), inserted)),
        Row(
            f"{label}: upsert the same {len(newest):,} again (updates)",
            _rate(len(newest), updated),
        ),
    ]

    async with database_for("table") as database:
        await database.create_schema()
        prices = PriceRepository(database)
        started = time.perf_counter()
        for chunk in _chunks([*daily, *hourly], 100_000):
            await prices.upsert(chunk)
        filled = time.perf_counter() - started
        rows = await prices.count()
        reads = await _read_windows(prices, baseline, sizes.reads)
    result.rows.append(Row(f"{label}: fill the table of {rows:,} candles", _rate(rows, filled)))
    for name, (big, small) in reads.items():
        result.rows.append(
            Row(
                f"{label}: {name}, {rows:,} rows, p50 / p99",
                f"{ms(big['p50'])} / {ms(big['p99'])}",
            )
        )
        result.rows.append(
            Row(
                f"{label}: {name}, p50 on {rows:,} rows / p50 on the seeded SQLite file",
                f"{big['p50'] / small['p50']:.2f}",
            )
        )


async def _read_windows(
    prices: PriceRepository, baseline: PriceRepository, reads: int
) -> dict[str, tuple[dict[str, float], dict[str, float]]]:
    """Read each window ``reads`` times from both tables, alternately, after 10 unmeasured.

    Alternating makes both series meet the same load from the rest of the machine.
    """
    measured = {}
    for name, interval, length in WINDOWS:
        samples: tuple[list[float], list[float]] = ([], [])
        for number in range(reads + 10):
            for repository, kept in zip((prices, baseline), samples, strict=True):
                started = time.perf_counter()
                candles = await repository.window(SYMBOL, interval, length)
                elapsed = time.perf_counter() - started
                if not candles:
                    raise RuntimeError(f"the {name} read found no candle")
                if number >= 10:
                    kept.append(elapsed)
        measured[name] = (summarize_ms(samples[0]), summarize_ms(samples[1]))
    return measured


async def _timed(awaitable: Awaitable[object]) -> float:
    started = time.perf_counter()
    await awaitable
    return time.perf_counter() - started


def _rate(rows: int, seconds: float) -> str:
    return f"{seconds:.2f} s ({rows / seconds:,.0f} rows/s)"


def _chunks(items: Sequence[Candle], size: int) -> Iterator[Sequence[Candle]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def synthetic_hourly(count: int) -> list[Candle]:
    """``count`` hourly candles ending at SERIES_END: the real series repeated back in time.

    The newest copy is the real series itself; going back, copies alternate between the
    series played backwards (candles in reverse order, open and close swapped) and forwards,
    so each copy ends at the price the next one opens with.
    """
    real = real_hourly_candles()
    backwards = [
        dataclasses.replace(candle, open=candle.close, close=candle.open)
        for candle in reversed(real)
    ]
    newest_first: list[list[Candle]] = []
    copies = itertools.cycle((real, backwards))
    while sum(map(len, newest_first)) < count:
        newest_first.append(next(copies))
    shapes = list(itertools.chain.from_iterable(reversed(newest_first)))[-count:]
    first = SERIES_END - Interval.HOUR.length * (count - 1)
    return [
        dataclasses.replace(
            shape, opened_at=first + Interval.HOUR.length * index, source="synthetic"
        )
        for index, shape in enumerate(shapes)
    ]


def daily_from_hourly(hourly: Sequence[Candle]) -> list[Candle]:
    """Daily candles aggregated from hourly ones, whole UTC days only."""
    days = []
    for day, group in itertools.groupby(hourly, key=lambda candle: candle.opened_at.date()):
        hours = list(group)
        if len(hours) != 24:
            continue
        days.append(
            Candle(
                symbol=SYMBOL,
                interval=Interval.DAY,
                opened_at=datetime(day.year, day.month, day.day, tzinfo=UTC),
                open=hours[0].open,
                high=max(hour.high for hour in hours),
                low=min(hour.low for hour in hours),
                close=hours[-1].close,
                volume=sum(hour.volume or 0.0 for hour in hours),
                source="synthetic",
            )
        )
    return days
