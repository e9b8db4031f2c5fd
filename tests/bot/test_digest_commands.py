"""The whole bot (PTB Application, job queue, handlers) against the fake Bot API on 127.0.0.1:
/subscribe, /unsubscribe, /digest, /chart, /status, the daily job and the start-up catch-up.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

import bot.telegram_bot as telegram_bot
from bot.digest import Pacer
from bot.telegram_bot import build_application
from core.charts import CHART_HEIGHT_PX, CHART_WIDTH_PX
from core.runtime import Runtime
from core.settings import Settings, load_settings
from storage.repositories import DigestRun
from tests.emulators.telegram import FakeTelegram, SentMessage
from tests.support.clock import FakeClock
from tests.support.seeded import copy_seeded

TOKEN = "1234567890:AAH-emulator_token_for_tests_00000"
ADMIN = 9001
USER = 4242
GROUP = -1009876543210
CHANNEL = -1001234567890
# 08:00 in Paris on 30 September 2026: an hour before the digest.
MORNING = datetime(2026, 9, 30, 6, 0, tzinfo=UTC)

App = Application[Any, Any, Any, Any, Any, Any]
StartApp = Callable[..., Awaitable[App]]


@pytest.fixture(autouse=True)
def quick_start_up_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the start-up digest check a moment after start instead of two seconds."""
    monkeypatch.setattr(telegram_bot, "DIGEST_STARTUP_DELAY_SECONDS", 0.05)


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def data_dir(seeded_template: Path, tmp_path: Path) -> Path:
    copy_seeded(seeded_template, tmp_path / "data")
    return tmp_path / "data"


def bot_settings(telegram: FakeTelegram, data_dir: Path, **overrides: Any) -> Settings:
    return load_settings(
        **{
            "telegram_bot_token": TOKEN,
            "telegram_api_base_url": telegram.base_url,
            "telegram_file_base_url": telegram.base_url.replace("/bot", "/file/bot"),
            "telegram_timeout_seconds": 5,
            "data_dir": data_dir,
            "admin_ids": str(ADMIN),
            "ingestion_enabled": False,
            "digest_time": "09:00",
            "digest_tz": "Europe/Paris",
            **overrides,
        }
    )


@pytest.fixture
async def start_app(telegram: FakeTelegram, data_dir: Path) -> AsyncIterator[StartApp]:
    """Start applications as ``bitcoin-analyzer run`` would; each is stopped after the test."""
    running: list[App] = []

    async def start(clock: FakeClock, *, polling: bool = True, **overrides: Any) -> App:
        application = build_application(
            bot_settings(telegram, data_dir, **overrides),
            clock=clock,
            pacer=Pacer(per_second=1000),
        )
        await application.initialize()
        assert application.post_init is not None
        await application.post_init(application)
        await application.start()
        if polling:
            assert application.updater is not None
            await application.updater.start_polling(timeout=1, poll_interval=0)
        running.append(application)
        return application

    yield start
    for application in running:
        await stop(application)


async def stop(application: App) -> None:
    if not application.running:
        return
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    await application.stop()
    await application.shutdown()
    assert application.post_shutdown is not None
    await application.post_shutdown(application)


def runtime_of(application: App) -> Runtime:
    runtime: Runtime = application.bot_data["runtime"]
    return runtime


async def ask(
    telegram: FakeTelegram,
    text: str,
    *,
    chat_id: int = USER,
    user_id: int = USER,
    count: int = 1,
    **details: Any,
) -> list[SentMessage]:
    """Send a command as a user and return the bot's answers in that chat."""
    before = len(telegram.sent(chat_id))
    telegram.inject_command(text, chat_id=chat_id, user_id=user_id, **details)
    answers = await telegram.wait_for_sent(before + count, timeout=10, chat_id=chat_id)
    return answers[before:]


async def wait_for_run(runtime: Runtime, timeout: float = 10.0) -> DigestRun:  # noqa: ASYNC109
    """Wait until this runtime has recorded a digest run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        latest = await runtime.digest.runs.latest()
        if latest is not None and latest.run_by == runtime.digest.owner:
            return latest
        await asyncio.sleep(0.05)
    raise TimeoutError("no digest run was recorded")


async def wait_for_start_up_check(application: App, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait until the start-up digest check has run (a run-once job leaves the queue)."""
    assert application.job_queue is not None
    deadline = time.monotonic() + timeout
    while application.job_queue.get_jobs_by_name("digest-startup"):
        if time.monotonic() > deadline:
            raise TimeoutError("the start-up digest check did not run")
        await asyncio.sleep(0.02)


def png_size(data: bytes | None) -> tuple[int, int]:
    assert data is not None and data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_subscribe_in_private_stores_the_language_and_names_the_first_digest(
    telegram: FakeTelegram, start_app: StartApp
) -> None:
    application = await start_app(FakeClock(MORNING))

    [subscribed] = await ask(telegram, "/subscribe", language_code="fr")
    [again] = await ask(telegram, "/subscribe", language_code="fr")
    stored = await runtime_of(application).digest.subscriptions.get(USER)
    [unsubscribed] = await ask(telegram, "/unsubscribe")
    [not_subscribed] = await ask(telegram, "/unsubscribe")

    assert subscribed.plain_text == (
        "Abonnement enregistré : cette discussion reçoit le résumé chaque jour à 09:00 "
        "(Europe/Paris), le prochain le 2026-09-30."
    )
    assert again.plain_text is not None and again.plain_text.startswith("Cette discussion est")
    assert stored is not None and (stored.language, stored.chat_type) == ("fr", "private")
    assert unsubscribed.plain_text == (
        "Unsubscribed: no more digests here. /subscribe brings them back."
    )
    assert not_subscribed.plain_text == "This chat was not subscribed."


async def test_in_a_group_only_its_administrators_may_subscribe_it(
    telegram: FakeTelegram, start_app: StartApp
) -> None:
    application = await start_app(FakeClock(MORNING))
    telegram.set_administrators(GROUP, [7], owner_id=6)
    group = {"chat_id": GROUP, "chat_type": "supergroup"}

    [member] = await ask(telegram, "/subscribe", user_id=5, **group)
    stored_after_member = await runtime_of(application).digest.subscriptions.get(GROUP)
    [admin] = await ask(telegram, "/subscribe", user_id=7, **group)
    [member_leaving] = await ask(telegram, "/unsubscribe", user_id=5, **group)
    stored = await runtime_of(application).digest.subscriptions.get(GROUP)

    assert member.plain_text == (
        "In a group, only its administrators can subscribe or unsubscribe it."
    )
    assert stored_after_member is None
    assert admin.plain_text is not None and admin.plain_text.startswith("Subscribed")
    assert member_leaving.plain_text == member.plain_text
    assert stored is not None and (stored.chat_type, stored.active) == ("supergroup", True)
    assert [call.params["user_id"] for call in telegram.calls("getChatMember")] == [
        "5",
        "7",
        "5",
    ]


async def test_digest_shows_a_preview_and_claims_nothing(
    telegram: FakeTelegram, start_app: StartApp
) -> None:
    application = await start_app(FakeClock(MORNING))

    photo, digest = await ask(telegram, "/digest", count=2)
    claims = await runtime_of(application).digest.claims.on(date(2026, 9, 30))

    assert (photo.method, digest.method) == ("sendPhoto", "sendMessage")
    assert png_size(photo.photo) == (CHART_WIDTH_PX, CHART_HEIGHT_PX)
    assert photo.plain_text == (
        "Bitcoin daily digest · 2026-09-30\n"
        "BTC $84,697 (-0.5% in 24 h)\n"
        "Chart: the last 7 days, up to 2025-11-23 00:00 UTC."
    )
    assert digest.plain_text is not None
    assert "Prices up to 2025-11-23 00:00 UTC (311 d 6 h old)." in digest.plain_text
    assert "Last 24 hours: flat (-0.5%) · volatility: normal" in digest.plain_text
    assert claims == []


async def test_chart_sends_a_png_and_a_bad_window_gets_the_usage(
    telegram: FakeTelegram, start_app: StartApp
) -> None:
    await start_app(FakeClock(MORNING))

    [chart] = await ask(telegram, "/chart 30d")
    [usage] = await ask(telegram, "/chart <b>soon</b>")

    assert chart.method == "sendPhoto"
    assert png_size(chart.photo) == (CHART_WIDTH_PX, CHART_HEIGHT_PX)
    assert chart.plain_text == (
        "BTC-USD over 30d, up to 2025-11-23 00:00 UTC (721 hourly candles)."
    )
    assert usage.plain_text == (
        "I did not understand the window “<b>soon</b>”. Usage: /chart [window], for example "
        "/chart 24h, /chart 7d or /chart 1y."
    )


async def test_status_shows_the_next_digest_in_its_zone_and_the_last_run(
    telegram: FakeTelegram, start_app: StartApp
) -> None:
    clock = FakeClock(MORNING)
    application = await start_app(clock, digest_chat_id=str(CHANNEL))
    telegram.add_chat(CHANNEL, chat_type="channel", title="BTC daily")
    await ask(telegram, "/subscribe")
    [before] = await ask(telegram, "/status", chat_id=ADMIN, user_id=ADMIN)
    await wait_for_start_up_check(application)  # at 08:00 in Paris it sends nothing

    clock.advance(hours=1)
    await telegram_bot.send_digest(application)
    await telegram_bot.send_digest(application)
    [after] = await ask(telegram, "/status", chat_id=ADMIN, user_id=ADMIN)

    assert before.plain_text is not None and after.plain_text is not None
    assert (
        "Digest: next 2026-09-30 09:00 Europe/Paris (2026-09-30 07:00 UTC) · 1 subscribers"
        in before.plain_text
    )
    assert "Last digest run: none yet" in before.plain_text
    assert (
        "Digest: next 2026-10-01 09:00 Europe/Paris (2026-10-01 07:00 UTC) · 1 subscribers"
        in after.plain_text
    )
    assert (
        "Last digest run for 2026-09-30: sent 0, failed 0, retried 0, skipped 2 "
        "(ended 2026-09-30 07:00 UTC)" in after.plain_text
    )
    assert "Digest for 2026-09-30, all runs: 2 sent, 0 failed, 0 sending" in after.plain_text
    assert len(telegram.sent(CHANNEL)) == 2
    assert f"Channel {CHANNEL}: sent for 2026-09-30" in after.plain_text


async def test_down_at_nine_up_at_eleven_sends_once_and_a_restart_sends_nothing(
    telegram: FakeTelegram, start_app: StartApp, data_dir: Path
) -> None:
    setup_clock = FakeClock(datetime(2026, 9, 29, 20, 0, tzinfo=UTC))
    setup = await Runtime.start(bot_settings(telegram, data_dir), clock=setup_clock)
    for chat in (111, 222):
        await setup.digest.subscribe(chat, "private", "en")
        telegram.add_chat(chat)
    await setup.close()
    telegram.add_chat(CHANNEL, chat_type="channel", title="BTC daily")

    # 11:00 in Paris: the 09:00 digest was missed while the bot was down.
    first = await start_app(
        FakeClock(datetime(2026, 9, 30, 9, 0, tzinfo=UTC)),
        polling=False,
        digest_chat_id=str(CHANNEL),
    )
    first_run = await wait_for_run(runtime_of(first))
    sent_by_first = len(telegram.sent())
    await stop(first)
    # 11:05: a restart.
    second = await start_app(
        FakeClock(datetime(2026, 9, 30, 9, 5, tzinfo=UTC)),
        polling=False,
        digest_chat_id=str(CHANNEL),
    )
    second_run = await wait_for_run(runtime_of(second))

    assert (first_run.sent, first_run.skipped) == (3, 0)
    assert sent_by_first == 6
    assert (second_run.sent, second_run.skipped) == (0, 3)
    assert len(telegram.sent()) == 6


@pytest.fixture
def host_in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def test_the_daily_job_fires_at_nine_in_berlin_whatever_the_host_zone(
    host_in_new_york: None, telegram: FakeTelegram, data_dir: Path
) -> None:
    application = build_application(
        bot_settings(telegram, data_dir, digest_tz="Europe/Berlin"),
        clock=FakeClock(datetime(2026, 1, 14, 12, 0, tzinfo=UTC)),
    )
    await application.initialize()
    try:
        assert application.post_init is not None and application.job_queue is not None
        await application.post_init(application)
        [job] = application.job_queue.get_jobs_by_name("digest")
        trigger = job.job.trigger

        winter = trigger.get_next_fire_time(None, datetime(2026, 1, 14, 12, 0, tzinfo=UTC))
        summer = trigger.get_next_fire_time(None, datetime(2026, 7, 14, 12, 0, tzinfo=UTC))
    finally:
        await application.shutdown()
        assert application.post_shutdown is not None
        await application.post_shutdown(application)

    assert winter == datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
    assert summer == datetime(2026, 7, 15, 7, 0, tzinfo=UTC)
    assert [job.name for job in application.job_queue.jobs()] == ["digest", "digest-startup"]
