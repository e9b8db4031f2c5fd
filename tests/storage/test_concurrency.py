"""File-based SQLite under concurrent writers while /trend waits on a slow Gemini."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from core.candles import SYMBOL, Candle, Interval
from core.digest import Delivery, Digest, Recipient
from core.runtime import Runtime
from core.settings import Settings, load_settings
from storage.repositories import PriceRepository
from tests.emulators.gemini import FakeGemini, Reply
from tests.support.clock import FakeClock

GEMINI_KEY = "test-gemini-key-concurrency"
GEMINI_DELAY_SECONDS = 7.0
NOW = datetime(2025, 11, 23, 10, tzinfo=UTC)
# Real closes of the last embedded hours, repeated into the future of the data set (so they
# never collide with stored candles): the writers store new rows, not updates.
REAL_CLOSES = (84532.0, 85117.0, 83978.0, 84660.0, 84697.0)


@pytest.fixture
async def runtime(seeded_settings: Settings) -> AsyncIterator[tuple[Runtime, FakeGemini]]:
    async with FakeGemini(api_key=GEMINI_KEY) as gemini:
        settings = load_settings(
            data_dir=seeded_settings.data_dir,
            gemini_api_key=GEMINI_KEY,
            google_gemini_base_url=gemini.url,
            gemini_timeout_seconds=GEMINI_DELAY_SECONDS + 5,
            trend_deadline_seconds=GEMINI_DELAY_SECONDS + 8,
            digest_time="08:00",
        )
        clock = FakeClock(NOW - timedelta(hours=3))
        runtime = await Runtime.start(settings, clock=clock)
        for chat_id in range(1, 6):
            await runtime.digest.subscribe(chat_id, "private", "en")
        clock.advance(hours=3)
        yield runtime, gemini
        await runtime.close()


def writer_candles(writer: int) -> list[Candle]:
    start = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(hours=10 * writer)
    return [
        Candle(
            SYMBOL,
            Interval.HOUR,
            start + timedelta(hours=hour),
            close,
            close * 1.001,
            close * 0.999,
            close,
            1.0,
            "concurrency-test",
        )
        for hour, close in enumerate(REAL_CLOSES * 2)
    ]


async def test_writers_trend_and_digest_share_sqlite_without_locking(
    runtime: tuple[Runtime, FakeGemini],
) -> None:
    app, gemini = runtime
    gemini.enqueue(Reply.answer("Bitcoin went down this week.").after(GEMINI_DELAY_SECONDS))
    prices = PriceRepository(app.database)
    before = await prices.count()
    deliveries: list[Recipient] = []

    async def deliver(recipient: Recipient, digest: Digest) -> Delivery:
        deliveries.append(recipient)
        await asyncio.sleep(0.05)  # the network call of a real send
        return Delivery(ok=True)

    trend = asyncio.create_task(app.trends.trend("7d", "en"))
    await gemini.wait_for_requests(1, timeout=5)

    writers = [prices.upsert(writer_candles(writer)) for writer in range(20)]
    results = await asyncio.gather(*writers, app.digest.run(deliver))
    # /trend is still waiting on Gemini here: it must hold no connection while it waits.
    connections_held_while_waiting = app.database.engine.pool.checkedout()
    still_waiting_on_gemini = not trend.done()
    report = await trend

    assert results[:20] == [10] * 20
    assert await prices.count() == before + 200
    assert still_waiting_on_gemini
    assert connections_held_while_waiting == 0
    assert {recipient.chat_id for recipient in deliveries} == {1, 2, 3, 4, 5}
    assert report.origin in {"gemini", "builtin"}
