"""Hostile arguments to /trend and /news, through the real handlers, with Gemini and SQL counted.

Each argument gets a usage message or a clamped answer within 2 s, no exception reaches the
error handler, and an argument that is refused costs no Gemini call and no database query:
the SQL statements are counted on the engine (``before_cursor_execute``) and the Gemini
calls on the fake Gemini.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import event
from telegram.ext import Application, ContextTypes

from bot.telegram_bot import build_application
from core.runtime import Runtime
from core.settings import Settings, load_settings
from tests.emulators.formatting import parse_formatted
from tests.emulators.gemini import FakeGemini
from tests.support.telegram_updates import RecordingRequest, command_update

TOKEN = "123456789:test-token-not-a-real-one"
ADMIN_ID = 4242
RLO = "\u202e"


@dataclass
class Bot:
    """The application, what it sent, and what it cost."""

    application: Application[Any, Any, Any, Any, Any, Any]
    request: RecordingRequest
    gemini: FakeGemini
    statements: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    updates: int = 0

    async def send(self, text: str, *, user_id: int = 100000001, language: str = "en") -> str:
        """Process one command and return the one reply's text."""
        before = len(self.request.sent_texts())
        self.updates += 1
        update = command_update(
            self.application.bot,
            text,
            user_id=user_id,
            language_code=language,
            update_id=self.updates,
        )
        await self.application.process_update(update)
        sent = self.request.sent_texts()[before:]
        assert len(sent) == 1, sent
        return sent[0]


@pytest.fixture
async def bot(seeded_settings: Settings) -> AsyncIterator[Bot]:
    async with FakeGemini() as gemini:
        settings = load_settings(
            data_dir=seeded_settings.data_dir,
            telegram_bot_token=TOKEN,
            admin_ids=str(ADMIN_ID),
            gemini_api_key="test-gemini-key",
            google_gemini_base_url=gemini.url,
            gemini_timeout_seconds=2.0,
            trend_limit_calls=2,
            trend_limit_period_seconds=600,
        )
        request = RecordingRequest()
        application = build_application(settings, request=request)
        await application.initialize()
        assert application.post_init is not None
        await application.post_init(application)
        recorded = Bot(application, request, gemini)

        async def record_error(_update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
            assert context.error is not None
            recorded.errors.append(context.error)

        application.add_error_handler(record_error)
        runtime: Runtime = application.bot_data["runtime"]

        def count(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            recorded.statements.append(statement)

        event.listen(runtime.database.engine.sync_engine, "before_cursor_execute", count)
        yield recorded
        event.remove(runtime.database.engine.sync_engine, "before_cursor_execute", count)
        await application.shutdown()
        assert application.post_shutdown is not None
        await application.post_shutdown(application)


REFUSED_WINDOWS = [
    ("soon", "I did not understand the window “soon”."),
    ("7 days 30 days", "Please give just one window"),
    ("1234567890123456789012345", "I did not understand the window “1234567890123456789012345”."),
    ("-7d", "A window must be longer than zero"),
    ("−7d", "A window must be longer than zero"),
    ("0d", "A window must be longer than zero"),
    ("0", "I did not understand the window “0”."),
    ("7d 30d", "Please give just one window"),
    ("7" * 5000, "I did not understand that. Try /help."),
    (f"{RLO}d7", "I did not understand the window “d7”."),
    ("*7d*", "I did not understand the window “*7d*”."),
    ("_7d_", "I did not understand the window “_7d_”."),
    ("[7d](http://x.example)", "I did not understand the window “[7d](http://x.example)”."),
    ("<b>7d</b>", "I did not understand the window “&lt;b&gt;7d&lt;/b&gt;”."),
    ("<script>alert(1)</script>", "“&lt;script&gt;alert(1)&lt;/script&gt;”"),
    ("7.5d", "I did not understand the window “7.5d”."),
    ("٧d", "I did not understand the window “٧d”."),
]


@pytest.mark.parametrize(("argument", "expected"), REFUSED_WINDOWS)
async def test_a_refused_window_costs_no_query_no_gemini_call_and_no_allowance(
    bot: Bot, caplog: pytest.LogCaptureFixture, argument: str, expected: str
) -> None:
    caplog.set_level(logging.INFO)
    started = time.monotonic()

    reply = await bot.send(f"/trend {argument}")

    assert time.monotonic() - started < 2.0
    assert expected in reply
    assert bot.statements == []
    assert bot.gemini.requests() == []
    assert bot.errors == []
    assert RLO not in reply
    assert parse_formatted(reply, "HTML").text  # valid Telegram HTML
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []
    # Nothing was spent: the whole allowance of two is still there.
    assert "BTC over 24h" in await bot.send("/trend")
    assert "BTC over 24h" in await bot.send("/trend")


@pytest.mark.parametrize("argument", ["soon", "7" * 5000, f"{RLO}d7", "<b>7d</b>", "-7d"])
async def test_a_refused_chart_window_costs_no_query(bot: Bot, argument: str) -> None:
    started = time.monotonic()

    reply = await bot.send(f"/chart {argument}")

    assert time.monotonic() - started < 2.0
    assert RLO not in reply
    assert "<b>7d" not in reply
    assert bot.statements == []
    assert bot.errors == []
    assert parse_formatted(reply, "HTML").text


@pytest.mark.parametrize(
    ("argument", "title", "clamped"),
    [
        ("99999d", "BTC over 10y", "(99999d is outside what I can analyse; I used 10y.)"),
        ("1234567890123456789012345d", "BTC over 10y", "outside what I can analyse; I used 10y"),
        ("1h", "BTC over 3h", "(1h is outside what I can analyse; I used 3h.)"),
        ("７ｄ", "BTC over 7d", None),
        ("7 JOURS", "BTC over 7d", None),
    ],
)
async def test_an_odd_but_readable_window_is_answered_clamped(
    bot: Bot, argument: str, title: str, clamped: str | None
) -> None:
    started = time.monotonic()

    reply = await bot.send(f"/trend {argument}")

    assert time.monotonic() - started < 2.0
    assert reply.startswith(f"<b>{title}</b>\n")
    if clamped is not None:
        assert clamped in reply
    assert len(bot.gemini.requests()) == 1
    assert bot.errors == []


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("ten", "I did not understand “ten”. Try /news or /news 10."),
        ("3 5", "I did not understand “3 5”."),
        ("2.5", "I did not understand “2.5”."),
        ("7" * 5000, "I did not understand that. Try /help."),
        (f"{RLO}5", "I did not understand “5”."),
        ("*5*", "I did not understand “*5*”."),
        ("<i>5</i>", "I did not understand “&lt;i&gt;5&lt;/i&gt;”."),
        ("x" * 40, f"I did not understand “{'x' * 32}”."),
    ],
)
async def test_a_refused_news_count_costs_no_query(bot: Bot, argument: str, expected: str) -> None:
    started = time.monotonic()

    reply = await bot.send(f"/news {argument}")

    assert time.monotonic() - started < 2.0
    assert expected in reply
    assert RLO not in reply
    assert bot.statements == []
    assert bot.errors == []
    assert parse_formatted(reply, "HTML").text


@pytest.mark.parametrize(
    ("argument", "links"),
    [("99999", 15), ("1234567890123456789012345", 15), ("-5", 1), ("0", 1), ("１０", 10)],
)
async def test_an_out_of_range_news_count_is_clamped(bot: Bot, argument: str, links: int) -> None:
    reply = await bot.send(f"/news {argument}")

    assert reply.count('<a href="') == links
    assert bot.errors == []


async def test_a_command_and_its_argument_may_be_split_by_any_whitespace(bot: Bot) -> None:
    reply = await bot.send("/trend\n7d")

    assert reply.startswith("<b>BTC over 7d</b>\n")


async def test_the_trend_allowance_stops_users_but_not_admins(bot: Bot) -> None:
    user_replies = [await bot.send("/trend 7d", user_id=555) for _ in range(3)]
    admin_replies = [await bot.send("/trend 7d", user_id=ADMIN_ID) for _ in range(4)]

    assert [reply.startswith("<b>BTC over 7d</b>") for reply in user_replies] == [
        True,
        True,
        False,
    ]
    assert user_replies[2] == "That is a lot of questions at once! Please wait a minute."
    assert all(reply.startswith("<b>BTC over 7d</b>") for reply in admin_replies)
    assert bot.errors == []
