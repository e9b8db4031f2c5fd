"""The digest's contents from the real embedded data, and the once-a-day rule of its runs.

The runs here go through a ``deliver`` coroutine that records what it is handed, the same
seam the Telegram sender plugs into (tests/bot/test_digest_broadcast.py drives that one
through the real PTB against the fake Bot API).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text as sql

from core.digest import Delivery, Digest, Recipient
from core.errors import NoDataError
from core.headlines import Headline
from core.runtime import Runtime
from core.settings import load_settings
from storage.repositories import NewsRepository
from tests.emulators.gemini import FakeGemini, Reply
from tests.support.clock import FakeClock
from tests.support.seeded import copy_seeded

# The newest embedded hourly candle closes at 2025-11-23 00:00 UTC; the newest embedded
# headlines are from 30 September 2026 (Cointelegraph), 13:18 to 17:17 UTC.
EVENING_OF_THE_NEWS = datetime(2026, 9, 30, 18, 0, tzinfo=UTC)
CHANNEL = -1001234567890

StartRuntime = Callable[..., Awaitable[Runtime]]


@pytest.fixture
async def start_runtime(seeded_template: Path, tmp_path: Path) -> AsyncIterator[StartRuntime]:
    """Start runtimes on a copy of the seeded database; all are closed after the test."""
    copy_seeded(seeded_template, tmp_path / "data")
    started: list[Runtime] = []

    async def start(clock: FakeClock, **settings: Any) -> Runtime:
        options = {
            "data_dir": tmp_path / "data",
            "digest_time": "09:00",
            "digest_tz": "Europe/Paris",
            **settings,
        }
        runtime = await Runtime.start(load_settings(**options), clock=clock)
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        await runtime.close()


class Recorder:
    """A ``deliver`` coroutine that keeps what it was handed and answers as told."""

    def __init__(self, answers: dict[str, Delivery] | None = None) -> None:
        self.handed: list[tuple[Recipient, Digest]] = []
        self.answers = answers or {}

    async def __call__(self, recipient: Recipient, digest: Digest) -> Delivery:
        self.handed.append((recipient, digest))
        answer = self.answers.get(recipient.key, Delivery(ok=True))
        if answer.detail == "raise":
            raise RuntimeError("an adapter bug")
        return answer

    @property
    def chats(self) -> list[str]:
        return [recipient.key for recipient, _ in self.handed]


async def test_the_digest_holds_price_analyses_headlines_and_chart(
    start_runtime: StartRuntime,
) -> None:
    runtime = await start_runtime(FakeClock(EVENING_OF_THE_NEWS))

    digest = await runtime.digest.compose("en")

    assert digest.missing == ()
    assert digest.local_date == date(2026, 9, 30)
    assert digest.price is not None
    assert digest.price.price == 84696.98
    assert round(digest.price.change_pct or 0, 2) == -0.46
    assert digest.price.as_of == datetime(2025, 11, 23, tzinfo=UTC)
    assert digest.price.data_age == timedelta(days=311, hours=18)
    assert [report.facts.window.label for report in digest.trends] == ["24h", "7d"]
    assert [item.headline.source for item in digest.headlines] == ["cointelegraph"] * 4
    assert [item.shown_at.hour for item in digest.headlines] == [17, 16, 13, 13]
    assert digest.chart is not None and digest.chart.window.label == "7d"


async def test_the_same_story_from_two_feeds_is_shown_once(start_runtime: StartRuntime) -> None:
    clock = FakeClock(EVENING_OF_THE_NEWS)
    runtime = await start_runtime(clock)
    [newest] = await NewsRepository(runtime.database).latest(1)
    # Derived: the newest real story, carried again by another feed a little later.
    copy = Headline(
        key="derived-copy",
        title=newest.headline.title.upper(),
        link="https://example.org/copy",
        source="coindesk",
        published_at=newest.shown_at + timedelta(minutes=5),
        summary="",
    )
    await NewsRepository(runtime.database).add([copy], seen_at=clock.now)

    digest = await runtime.digest.compose("en")

    titles = [item.headline.title.casefold() for item in digest.headlines]
    assert len(titles) == len(set(titles)) == 4


async def test_without_news_the_digest_goes_out_with_the_rest(
    start_runtime: StartRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = await start_runtime(FakeClock(EVENING_OF_THE_NEWS))
    async with runtime.database.engine.begin() as connection:
        await connection.execute(sql("DROP TABLE news"))

    digest = await runtime.digest.compose("fr")

    assert digest.missing == ("news",)
    assert digest.headlines == ()
    assert digest.price is not None and len(digest.trends) == 2
    assert "the headlines could not be read" in caplog.text


async def test_without_analyses_the_digest_goes_out_with_the_rest(
    start_runtime: StartRuntime,
) -> None:
    runtime = await start_runtime(FakeClock(EVENING_OF_THE_NEWS))
    async with runtime.database.engine.begin() as connection:
        await connection.execute(sql("DROP TABLE analyses"))

    digest = await runtime.digest.compose("en")

    assert digest.missing == ("trend_24h", "trend_7d")
    assert digest.price is not None and len(digest.headlines) == 4


async def test_when_gemini_fails_the_built_in_analyst_writes_the_digest(
    start_runtime: StartRuntime,
) -> None:
    async with FakeGemini(default=Reply.server_error(503)) as gemini:
        runtime = await start_runtime(
            FakeClock(EVENING_OF_THE_NEWS),
            gemini_api_key="test-key",
            google_gemini_base_url=gemini.url,
        )
        digest = await runtime.digest.compose("en")
        asked = len(gemini.requests())

    assert asked >= 2
    assert digest.missing == ()
    assert [report.analyst for report in digest.trends] == ["builtin", "builtin"]
    assert all(report.fallback_reason for report in digest.trends)


async def test_an_empty_database_makes_no_digest_and_claims_nothing(
    tmp_path: Path,
) -> None:
    settings = load_settings(data_dir=tmp_path / "empty", digest_chat_id=str(CHANNEL))
    runtime = await Runtime.start(settings, seed=False, clock=FakeClock(EVENING_OF_THE_NEWS))
    try:
        recorder = Recorder()
        with pytest.raises(NoDataError):
            await runtime.digest.run(recorder)
        claims = await runtime.digest.claims.on(date(2026, 9, 30))
    finally:
        await runtime.close()

    assert (recorder.handed, claims) == ([], [])


async def test_nothing_goes_out_before_the_local_time(start_runtime: StartRuntime) -> None:
    # 06:59 UTC is 08:59 in Paris in summer.
    clock = FakeClock(datetime(2026, 9, 30, 6, 59, tzinfo=UTC))
    runtime = await start_runtime(clock, digest_chat_id=str(CHANNEL))
    recorder = Recorder()

    before = await runtime.digest.run(recorder)
    clock.advance(minutes=1)
    at_nine = await runtime.digest.run(recorder)

    assert before is None
    assert at_nine is not None and at_nine.sent == 1
    assert recorder.chats == [str(CHANNEL)]


async def test_each_chat_gets_one_digest_a_day_in_its_language(
    start_runtime: StartRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock(datetime(2026, 9, 30, 6, 0, tzinfo=UTC))
    runtime = await start_runtime(clock, digest_chat_id=str(CHANNEL), default_language="en")
    await runtime.digest.subscribe(101, "private", "fr")
    clock.advance(minutes=1)
    await runtime.digest.subscribe(-100777, "supergroup", "en")
    clock.advance(hours=3)
    recorder = Recorder()

    first = await runtime.digest.run(recorder)
    second = await runtime.digest.run(recorder)
    claims = await runtime.digest.claims.on(date(2026, 9, 30))

    assert recorder.chats == [str(CHANNEL), "101", "-100777"]
    assert [digest.language for _, digest in recorder.handed] == ["en", "fr", "en"]
    assert first is not None and (first.sent, first.failed, first.skipped) == (3, 0, 0)
    assert second is not None and (second.sent, second.skipped) == (0, 3)
    assert {claim.chat: claim.state for claim in claims} == {
        str(CHANNEL): "sent",
        "101": "sent",
        "-100777": "sent",
    }
    assert "Digest for 2026-09-30: sent=3 failed=0 retried=0 skipped=0" in caplog.text


async def test_who_subscribes_after_the_digest_time_waits_for_the_next_day(
    start_runtime: StartRuntime,
) -> None:
    clock = FakeClock(datetime(2026, 9, 30, 8, 0, tzinfo=UTC))
    runtime = await start_runtime(clock)
    _, first_due = await runtime.digest.subscribe(202, "private", "en")
    recorder = Recorder()

    today = await runtime.digest.run(recorder)
    clock.now = first_due
    tomorrow = await runtime.digest.run(recorder)

    assert first_due == datetime(2026, 10, 1, 7, 0, tzinfo=UTC)
    assert today is not None and today.sent == 0
    assert tomorrow is not None and tomorrow.sent == 1


async def test_the_night_the_clocks_go_back_sends_once(start_runtime: StartRuntime) -> None:
    # 02:30 happens twice in Paris on 25 October 2026; the scheduler fires at both.
    clock = FakeClock(datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    runtime = await start_runtime(clock, digest_time="02:30", digest_chat_id=str(CHANNEL))
    await runtime.digest.subscribe(303, "private", "en")
    recorder = Recorder()

    clock.now = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    first = await runtime.digest.run(recorder)
    clock.now = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    repeat = await runtime.digest.run(recorder)

    assert recorder.chats == [str(CHANNEL), "303"]
    assert first is not None and first.sent == 2
    assert repeat is not None and (repeat.sent, repeat.skipped) == (0, 2)


async def test_one_failing_chat_never_stops_the_others(start_runtime: StartRuntime) -> None:
    clock = FakeClock(datetime(2026, 9, 30, 6, 0, tzinfo=UTC))
    runtime = await start_runtime(clock, digest_chat_id=str(CHANNEL))
    for chat in (1, 2, 3, 4):
        await runtime.digest.subscribe(chat, "private", "en")
    clock.advance(hours=3)
    recorder = Recorder(
        {
            str(CHANNEL): Delivery(ok=False, detail="BadRequest: Chat not found", chat_gone=True),
            "2": Delivery(
                ok=False, detail="Forbidden: bot was blocked by the user", chat_gone=True
            ),
            "3": Delivery(ok=False, detail="raise"),
        }
    )

    run = await runtime.digest.run(recorder)
    active = [item.chat_id for item in await runtime.digest.subscriptions.active()]
    claims = {claim.chat: claim for claim in await runtime.digest.claims.on(date(2026, 9, 30))}

    assert run is not None
    assert (run.sent, run.failed, run.channel_error) == (2, 3, "BadRequest: Chat not found")
    assert active == [1, 3, 4]
    assert claims["3"].detail == "unexpected RuntimeError"
    assert {chat: claim.state for chat, claim in claims.items()} == {
        str(CHANNEL): "failed",
        "1": "sent",
        "2": "failed",
        "3": "failed",
        "4": "sent",
    }


async def test_a_group_that_became_a_supergroup_gets_the_digest_there(
    start_runtime: StartRuntime,
) -> None:
    clock = FakeClock(datetime(2026, 9, 30, 6, 0, tzinfo=UTC))
    runtime = await start_runtime(clock)
    await runtime.digest.subscribe(-55, "group", "en")
    clock.advance(hours=3)
    recorder = Recorder({"-55": Delivery(ok=False, detail="migrated", moved_to=-1005555)})

    run = await runtime.digest.run(recorder)

    assert recorder.chats == ["-55", "-1005555"]
    assert run is not None and (run.sent, run.failed) == (1, 1)
    assert [item.chat_id for item in await runtime.digest.subscriptions.active()] == [-1005555]
