"""Gemini calls for 1,000 /trend requests over one hour, prices ingested every 5 minutes.

Method. Simulated time: a hand-moved clock drives the whole runtime (``Runtime.start(settings,
clock=...)``), so the hour takes seconds. The hour runs from 2025-11-22 12:30 to 13:30 UTC, on
a copy of the seeded database cut back to what it held at 12:25: real hourly candles up to
12:00, whose candle was still forming, and the daily candles before that day. The analyses of
the common windows (24h, 7d, 30d in English and French) were written by the pass at 12:25, as
in steady running; nothing else is cached.

Every 5 minutes (12 passes, 12:30 to 13:25) ``Runtime.ingest_prices`` runs the real price
ingestion: the Kraken provider asks a local Kraken endpoint that replays the embedded real
hourly series as of the clock (derived data: the forming candle is cut at the clock's minute;
see ``benchmarks/exchange.py``). As in the product, a pass that stores candles refreshes the
common analyses ahead of the users; since the cache key (window, language, model, newest
candle's time and close) follows the forming candle, a pass that only moves it changes every
key too. The benchmark also counts the refreshed analyses no request read before the next
refresh replaced them.

The 1,000 requests arrive at random times through the hour (seeded, so every run asks the same)
and go to ``TrendService.trend``, one after another as PTB hands updates over by default:
45 % ``/trend`` (24 h), 15 % 7d, 10 % 30d, 8 % 90d, 7 % 1y, 5 % each 6h, 48h and 14d; 70 % in
English, 30 % in French. Gemini is the local emulator, answering at once with two sentences
that state the prompt's trend label, so every answer passes the checks and is cached. Without
the cache, each request would cost one call: the ratio is calls made / 1,000.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete

from benchmarks.exchange import ReplayedKraken
from benchmarks.support import (
    GEMINI_KEY,
    Context,
    LabelReadingGemini,
    Result,
    Row,
    local_settings,
    real_hourly_candles,
    sqlite_url,
)
from core.candles import Interval
from core.runtime import Runtime
from core.services import COMMON_WINDOWS
from core.services import LANGUAGES as SERVICE_LANGUAGES
from core.windows import parse_window
from storage.database import open_database
from storage.models import PriceRow
from tests.support.clock import FakeClock

NAME = "gemini_calls"
TITLE = "Gemini calls for 1,000 /trend requests over one simulated hour"
REQUESTS = 1000
HOUR_STARTS = datetime(2025, 11, 22, 12, 30, tzinfo=UTC)
PASS_EVERY = timedelta(minutes=5)
WINDOWS: dict[str | None, int] = {
    None: 45,
    "7d": 15,
    "30d": 10,
    "90d": 8,
    "1y": 7,
    "6h": 5,
    "48h": 5,
    "14d": 5,
}
LANGUAGES = {"en": 70, "fr": 30}
SEED = 20251122


async def run(context: Context) -> Result:
    """Play the hour and count the model's calls; see the module docstring."""
    result = Result(NAME, TITLE, __doc__ or "")
    data_dir = await context.seeded_data_dir(NAME)
    await _cut_back(sqlite_url(data_dir / "bitcoin_analyzer.db"), HOUR_STARTS - PASS_EVERY)

    clock = FakeClock(HOUR_STARTS - PASS_EVERY)
    async with (
        LabelReadingGemini(api_key=GEMINI_KEY) as gemini,
        ReplayedKraken(real_hourly_candles(), clock) as kraken,
    ):
        settings = local_settings(
            data_dir,
            gemini_api_key=GEMINI_KEY,
            google_gemini_base_url=gemini.url,
            kraken_base_url=kraken.url,
            price_providers="kraken",
        )
        runtime = await Runtime.start(settings, clock=clock)
        try:
            await _check_new_candles(runtime)
            counted_from = runtime.stats.llm_calls
            hour = await _play_hour(runtime, clock)
            calls = runtime.stats.llm_calls - counted_from
            if runtime.stats.llm_fallbacks.total() or len(gemini.requests()) != (
                counted_from + calls
            ):
                raise RuntimeError("some analyses fell back or were not counted")
        finally:
            await runtime.close()

    ratio = calls / REQUESTS
    result.rows += [
        Row(f"Gemini calls for {REQUESTS:,} requests", f"{calls}"),
        Row("  of which refreshes ahead of the users", f"{hour.refresh_calls}"),
        Row("  of which on demand (cache misses)", f"{calls - hour.refresh_calls}"),
        Row("calls / requests (one call per request = 1)", f"{ratio:.3f}"),
        Row("requests per call", f"{REQUESTS / calls:.1f}"),
        Row(
            "refreshed analyses never read before the next refresh",
            f"{hour.refreshed_unread} of {hour.refreshed}",
        ),
    ]
    result.notes.append(
        f"{hour.refreshing_passes} of the 12 passes stored candles and so refreshed the "
        f"{len(COMMON_WINDOWS) * len(SERVICE_LANGUAGES)} common analyses; "
        f"{hour.new_candles} new candle(s) opened in the hour (the 13:00 hourly candle), the "
        "other passes moved the forming hourly and daily candles. The cache key holds the "
        "newest candle's close, so each such pass gives every window a new key: a window "
        "outside the common ones costs one call per language and pass in which it is asked."
    )
    return result


async def _cut_back(url: str, moment: datetime) -> None:
    """Delete the candles a database would not yet hold at ``moment`` (one pass earlier)."""
    database = open_database(url)
    hour = moment.replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    try:
        async with database.sessions.begin() as session:
            await session.execute(
                delete(PriceRow).where(
                    PriceRow.interval == str(Interval.HOUR), PriceRow.opened_at >= hour
                )
            )
            await session.execute(
                delete(PriceRow).where(
                    PriceRow.interval == str(Interval.DAY), PriceRow.opened_at >= day
                )
            )
    finally:
        await database.close()


async def _check_new_candles(runtime: Runtime) -> None:
    """The pass before the hour: it stores the forming candles and writes the common analyses."""
    reports = await runtime.ingest_prices()
    if any(report.error for report in reports) or not any(report.new for report in reports):
        raise RuntimeError(f"the warm-up pass stored nothing: {reports}")


@dataclasses.dataclass
class _Hour:
    """What the hour's passes did."""

    refresh_calls: int = 0
    new_candles: int = 0
    refreshing_passes: int = 0
    refreshed: int = 0
    refreshed_unread: int = 0


async def _play_hour(runtime: Runtime, clock: FakeClock) -> _Hour:
    """Run the passes and the requests in time order, noting what the refreshes wrote."""
    chooser = random.Random(SEED)
    events: list[tuple[datetime, int, str | None, str]] = [
        (HOUR_STARTS + PASS_EVERY * number, 0, None, "") for number in range(12)
    ]
    for _ in range(REQUESTS):
        at = HOUR_STARTS + timedelta(seconds=chooser.uniform(0, 3600))
        window = chooser.choices(list(WINDOWS), list(WINDOWS.values()))[0]
        language = chooser.choices(list(LANGUAGES), list(LANGUAGES.values()))[0]
        events.append((at, 1, window, language))
    events.sort(key=lambda event: (event[0], event[1]))

    hour = _Hour()
    unread: set[tuple[str, str]] = set()
    for at, kind, window, language in events:
        clock.now = at
        if kind == 1:
            unread.discard((parse_window(window).label, language))
            await runtime.trends.trend(window, language)
            continue

        hour.refreshed_unread += len(unread)
        before = runtime.stats.llm_calls
        reports = await runtime.ingest_prices()
        if any(report.error for report in reports):
            raise RuntimeError(f"a price pass failed: {reports}")
        hour.new_candles += sum(report.new for report in reports)
        written = runtime.stats.llm_calls - before
        hour.refresh_calls += written
        if written:
            hour.refreshing_passes += 1
            unread = {
                (common, tongue) for common in COMMON_WINDOWS for tongue in SERVICE_LANGUAGES
            }
            hour.refreshed += len(unread)
    hour.refreshed_unread += len(unread)
    return hour
