"""The daily digest sent by the real python-telegram-bot to the fake Bot API on 127.0.0.1.

Flood-control waits go through an injected sleep that records the wait and returns at once,
so a 35-second ``retry_after`` costs nothing while the order of events (refusal, wait,
second try) is still what the test checks. Pacing is checked in real time against the
emulator's own rate limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot
from telegram.error import RetryAfter
from telegram.request import HTTPXRequest

from bot.digest import MESSAGES_PER_SECOND, Pacer, retry_after_seconds, run_digest
from bot.replies import PLAIN, status_reply
from core.runtime import Runtime
from core.settings import load_settings
from storage.repositories import DigestRun
from tests.emulators.telegram import FakeTelegram, Fault
from tests.support.clock import FakeClock
from tests.support.seeded import copy_seeded

TOKEN = "1234567890:AAH-emulator_token_for_tests_00000"
CHANNEL = -1001234567890
ADMIN = 9001
# 09:00 in Paris on 30 September 2026 (summer time).
DIGEST_MOMENT = datetime(2026, 9, 30, 7, 0, tzinfo=UTC)
TODAY = date(2026, 9, 30)
SUBSCRIBED_AT = DIGEST_MOMENT - timedelta(hours=12)
# Fast enough for 242 messages to take a fraction of a second; the Telegram pace itself is
# checked by test_the_pace_stays_under_telegram_limits.
QUICK = 1000.0

StartRuntime = Callable[..., Awaitable[Runtime]]


@pytest.fixture(autouse=True)
def ptb_timedeltas(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read ``RetryAfter.retry_after`` as PTB 23 will (a timedelta); the sender takes both."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        yield fake


def make_bot(telegram: FakeTelegram) -> Bot:
    return Bot(
        TOKEN,
        base_url=telegram.base_url,
        request=HTTPXRequest(
            connection_pool_size=4, connect_timeout=2.0, read_timeout=5.0, write_timeout=5.0
        ),
    )


@pytest.fixture
async def bot(telegram: FakeTelegram) -> AsyncIterator[Bot]:
    async with make_bot(telegram) as ptb_bot:
        yield ptb_bot


@pytest.fixture
async def start_runtime(seeded_template: Path, tmp_path: Path) -> AsyncIterator[StartRuntime]:
    copy_seeded(seeded_template, tmp_path / "data")
    started: list[Runtime] = []

    async def start(clock: FakeClock, **settings: Any) -> Runtime:
        options = {
            "data_dir": tmp_path / "data",
            "digest_time": "09:00",
            "digest_tz": "Europe/Paris",
            "ingestion_enabled": False,
            **settings,
        }
        runtime = await Runtime.start(load_settings(**options), clock=clock)
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        await runtime.close()


async def subscribe(runtime: Runtime, clock: FakeClock, chats: list[int], **kwargs: Any) -> None:
    """Subscribe private chats in order, a second apart, the evening before."""
    clock.now = SUBSCRIBED_AT
    for chat in chats:
        await runtime.digest.subscribe(chat, "private", kwargs.get("language", "en"))
        clock.advance(seconds=1)
    clock.now = DIGEST_MOMENT


class RecordedSleep:
    """Waits by moving the clock; notes each wait and how many Bot API calls preceded it."""

    def __init__(self, clock: FakeClock, telegram: FakeTelegram) -> None:
        self.clock = clock
        self.telegram = telegram
        self.waits: list[tuple[float, int]] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append((seconds, len(self.telegram.calls())))
        self.clock.advance(seconds=seconds)


def accepted(telegram: FakeTelegram) -> Counter[tuple[int | str, str]]:
    """How many messages of each kind each chat was shown."""
    return Counter((sent.chat_id, sent.method) for sent in telegram.sent())


async def test_a_429_on_the_31st_send_is_waited_out_and_everyone_gets_it_once(
    telegram: FakeTelegram, bot: Bot, start_runtime: StartRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock(DIGEST_MOMENT)
    runtime = await start_runtime(clock, digest_chat_id=str(CHANNEL))
    subscribers = list(range(1000, 1120))
    await subscribe(runtime, clock, subscribers)
    telegram.add_chat(CHANNEL, chat_type="channel", title="BTC daily")
    for chat in subscribers:
        telegram.add_chat(chat)
    # Each recipient gets a photo, then a message: the 31st send is the 15th subscriber's photo.
    sends = [
        (chat, method)
        for chat in [CHANNEL, *subscribers]
        for method in ("sendPhoto", "sendMessage")
    ]
    refused_chat, refused_method = sends[30]
    telegram.fail_next(refused_method, Fault.RETRY_AFTER, chat_id=refused_chat, retry_after=35)
    sleep = RecordedSleep(clock, telegram)

    started = time.perf_counter()
    run = await run_digest(
        runtime.digest,
        bot,
        runtime.charts,
        Pacer(per_second=QUICK),
        admin_ids=frozenset(),
        admin_language="en",
        sleep=sleep,
    )
    elapsed = time.perf_counter() - started

    calls = [
        (int(call.params["chat_id"]), call.method, call.status)
        for call in telegram.calls()
        if call.method in {"sendPhoto", "sendMessage"}
    ]
    refusal = calls.index((refused_chat, refused_method, 429))
    retry = calls.index((refused_chat, refused_method, 200))
    [(waited, calls_before_wait)] = sleep.waits
    all_calls = [(int(call.params.get("chat_id", 0)), call.method) for call in telegram.calls()]
    wait_position = calls_before_wait - 1  # the index, among all calls, of the last one before

    assert (refused_chat, refused_method) == (1014, "sendPhoto")
    assert refusal == 30
    assert retry == refusal + 1
    assert waited >= 35
    assert all_calls[wait_position] == (refused_chat, refused_method)
    assert telegram.calls()[wait_position].status == 429
    assert accepted(telegram) == Counter(
        {
            (chat, method): 1
            for chat in [CHANNEL, *subscribers]
            for method in ("sendPhoto", "sendMessage")
        }
    )
    assert run == DigestRun(
        TODAY,
        run.started_at,
        run.finished_at,
        runtime.digest.owner,
        sent=121,
        failed=0,
        retried=1,
        skipped=0,
    )
    assert "Digest for 2026-09-30: sent=121 failed=0 retried=1 skipped=0" in caplog.text
    assert (runtime.stats.digest_sends["sent"], runtime.stats.digest_sends["retried"]) == (121, 1)
    assert elapsed < 20


async def test_the_photo_is_uploaded_once_then_sent_by_file_id(
    telegram: FakeTelegram, bot: Bot, start_runtime: StartRuntime
) -> None:
    clock = FakeClock(DIGEST_MOMENT)
    runtime = await start_runtime(clock)
    await subscribe(runtime, clock, [11, 12, 13])
    for chat in (11, 12, 13):
        telegram.add_chat(chat)

    await run_digest(
        runtime.digest,
        bot,
        runtime.charts,
        Pacer(per_second=QUICK),
        admin_ids=frozenset(),
        admin_language="en",
    )

    photos = telegram.calls("sendPhoto")
    kinds = [
        "upload" if call.content_type.startswith("multipart") else "file id" for call in photos
    ]
    shown = telegram.sent()
    assert kinds == ["upload", "file id", "file id"]
    assert len({sent.photo for sent in shown if sent.method == "sendPhoto"}) == 1
    assert all(len(sent.text or "") <= 1024 for sent in shown if sent.method == "sendPhoto")
    texts = [sent for sent in shown if sent.method == "sendMessage"]
    assert [sent.parse_mode for sent in texts] == ["HTML"] * 3
    assert texts[0].plain_text is not None
    assert texts[0].plain_text.startswith("Bitcoin daily digest · 2026-09-30\nBTC $84,697")
    assert "Last 7 days: down (-11.4%)" in texts[0].plain_text


async def test_the_pace_stays_under_telegram_limits(
    telegram: FakeTelegram, bot: Bot, start_runtime: StartRuntime
) -> None:
    clock = FakeClock(DIGEST_MOMENT)
    runtime = await start_runtime(clock, digest_chat_id=str(CHANNEL))
    subscribers = list(range(2000, 2020))
    await subscribe(runtime, clock, subscribers)
    telegram.add_chat(CHANNEL, chat_type="channel", title="BTC daily")
    for chat in subscribers:
        telegram.add_chat(chat)
    telegram.set_rate_limit(per_second=30, per_minute_per_group=20)

    started = time.perf_counter()
    run = await run_digest(
        runtime.digest,
        bot,
        runtime.charts,
        Pacer(),
        admin_ids=frozenset(),
        admin_language="en",
    )
    elapsed = time.perf_counter() - started

    stamps = sorted(sent.at for sent in telegram.sent())
    busiest = max(sum(1 for other in stamps if stamp <= other < stamp + 1) for stamp in stamps)
    assert run is not None and (run.sent, run.retried) == (21, 0)
    assert telegram.rate_limited_count == 0
    assert len(stamps) == 42
    assert busiest <= MESSAGES_PER_SECOND + 1
    assert elapsed >= 41 / MESSAGES_PER_SECOND - 0.1


async def test_blocked_and_missing_chats_are_retired_and_the_channel_failure_is_reported(
    telegram: FakeTelegram, bot: Bot, start_runtime: StartRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock(DIGEST_MOMENT)
    runtime = await start_runtime(clock, digest_chat_id=str(CHANNEL), admin_ids=str(ADMIN))
    a, b, c, d = 501, 502, 503, 504
    await subscribe(runtime, clock, [a, b, c, d])
    for chat in (a, b, d, ADMIN):
        telegram.add_chat(chat)  # C and the channel are unknown to Telegram: not found
    telegram.fail_next("sendPhoto", Fault.BLOCKED, chat_id=b, times=None)

    run = await run_digest(
        runtime.digest,
        bot,
        runtime.charts,
        Pacer(per_second=QUICK),
        admin_ids=runtime.settings.admin_ids,
        admin_language="en",
    )
    later = await run_digest(
        runtime.digest,
        bot,
        runtime.charts,
        Pacer(per_second=QUICK),
        admin_ids=runtime.settings.admin_ids,
        admin_language="en",
    )
    status = status_reply(await runtime.status.status(), "en", PLAIN)
    subscriptions = {chat: await runtime.digest.subscriptions.get(chat) for chat in (a, b, c, d)}

    assert accepted(telegram) == Counter(
        {
            (a, "sendPhoto"): 1,
            (a, "sendMessage"): 1,
            (d, "sendPhoto"): 1,
            (d, "sendMessage"): 1,
            (ADMIN, "sendMessage"): 1,
        }
    )
    assert run is not None
    assert (run.sent, run.failed, run.retried) == (2, 3, 0)
    assert run.channel_error == "BadRequest: Chat not found"
    assert {chat: item.active for chat, item in subscriptions.items() if item} == {
        a: True,
        b: False,
        c: False,
        d: True,
    }
    assert subscriptions[b] is not None
    assert subscriptions[b].inactive_reason == "Forbidden: bot was blocked by the user"
    [alert] = telegram.sent(ADMIN)
    assert alert.plain_text == (
        "The daily digest for 2026-09-30 could not be posted to the channel -1001234567890: "
        "BadRequest: Chat not found. Subscribers are not affected."
    )
    assert f"Channel {CHANNEL}: FAILED for 2026-09-30: BadRequest: Chat not found" in status
    assert "2 subscribers, 2 inactive" in status
    assert later is not None and (later.sent, later.skipped) == (0, 3)
    assert "Digest for 2026-09-30: sent=2 failed=3 retried=0 skipped=0" in caplog.text


async def test_two_processes_on_one_database_send_each_chat_once(
    telegram: FakeTelegram, seeded_template: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    copy_seeded(seeded_template, data_dir)
    subscribers = list(range(3000, 3030))
    settings = load_settings(
        data_dir=data_dir,
        digest_time="09:00",
        digest_tz="Europe/Paris",
        digest_chat_id=str(CHANNEL),
        ingestion_enabled=False,
    )
    setup_clock = FakeClock(SUBSCRIBED_AT)
    setup = await Runtime.start(settings, clock=setup_clock)
    await subscribe(setup, setup_clock, subscribers)
    await setup.close()
    telegram.add_chat(CHANNEL, chat_type="channel", title="BTC daily")
    for chat in subscribers:
        telegram.add_chat(chat)
    both_ready = asyncio.Barrier(2)
    loop = asyncio.get_running_loop()

    async def process() -> DigestRun | None:
        """One bot process: its own event loop, runtime, engine and HTTP client."""
        runtime = await Runtime.start(settings, clock=FakeClock(DIGEST_MOMENT))
        try:
            async with make_bot(telegram) as ptb_bot:
                await asyncio.wrap_future(
                    asyncio.run_coroutine_threadsafe(both_ready.wait(), loop)
                )
                return await run_digest(
                    runtime.digest,
                    ptb_bot,
                    runtime.charts,
                    Pacer(per_second=QUICK),
                    admin_ids=frozenset(),
                    admin_language="en",
                )
        finally:
            await runtime.close()

    first, second = await asyncio.gather(
        asyncio.to_thread(asyncio.run, process()), asyncio.to_thread(asyncio.run, process())
    )

    assert accepted(telegram) == Counter(
        {
            (chat, method): 1
            for chat in [CHANNEL, *subscribers]
            for method in ("sendPhoto", "sendMessage")
        }
    )
    assert first is not None and second is not None
    assert first.sent + second.sent == 31
    assert first.skipped + second.skipped == 31
    assert first.run_by != second.run_by


@pytest.mark.parametrize("timedeltas", ["true", "false"])
def test_the_wait_is_read_in_seconds_either_way_ptb_gives_it(
    monkeypatch: pytest.MonkeyPatch, timedeltas: str
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", timedeltas)
    with warnings.catch_warnings():
        # PTB's own constructor reads the attribute it deprecates; that warning is PTB's.
        warnings.simplefilter("ignore")
        refusal = RetryAfter(35)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        seconds = retry_after_seconds(refusal)

    assert seconds == 35.0
