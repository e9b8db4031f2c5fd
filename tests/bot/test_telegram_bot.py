"""The Telegram handlers, driven by real PTB updates with every Bot API call recorded."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram.ext import Application

from bot.telegram_bot import build_application
from core.errors import ConfigError
from core.settings import Settings, load_settings
from tests.support.applications import started as running
from tests.support.telegram_updates import RecordingRequest, command_update

ADMIN_ID = 4242
TOKEN = "123456789:test-token-not-a-real-one"


@pytest.fixture
def bot_settings(seeded_settings: Settings) -> Settings:
    return load_settings(
        data_dir=seeded_settings.data_dir, telegram_bot_token=TOKEN, admin_ids=str(ADMIN_ID)
    )


@pytest.fixture
async def started(
    bot_settings: Settings,
) -> AsyncIterator[tuple[Application[Any, Any, Any, Any, Any, Any], RecordingRequest]]:
    request = RecordingRequest()
    application = build_application(bot_settings, request=request)
    async with running(application):
        yield application, request


async def send(application: Any, text: str, **options: Any) -> None:
    await application.process_update(command_update(application.bot, text, **options))


async def test_start_registers_commands_in_english_and_french(started: Any) -> None:
    _, request = started

    registered = [call for call in request.calls if call.method == "setMyCommands"]

    assert [call.parameters.get("language_code") for call in registered] == [None, "fr"]
    assert [command["command"] for command in registered[0].parameters["commands"]] == [
        "trend",
        "news",
        "chart",
        "digest",
        "subscribe",
        "unsubscribe",
        "status",
        "help",
    ]


async def test_trend_answers_in_html_from_the_embedded_data(started: Any, caplog) -> None:
    application, request = started
    caplog.set_level(logging.INFO)

    await send(application, "/trend 7d")

    sent = [call for call in request.calls if call.method == "sendMessage"]
    assert len(sent) == 1
    assert sent[0].parameters["parse_mode"] == "HTML"
    assert sent[0].parameters["text"].startswith("<b>BTC over 7d</b>")
    assert "Data up to 2025-11-23 00:00 UTC" in sent[0].parameters["text"]
    assert [call.method for call in request.calls[-2:]] == ["sendChatAction", "sendMessage"]
    handled = [
        record.getMessage() for record in caplog.records if "command=trend" in record.getMessage()
    ]
    assert len(handled) == 1
    assert "outcome=ok" in handled[0]
    assert "latency_ms=" in handled[0]
    assert "analyst=builtin" in handled[0]


async def test_second_trend_on_unchanged_data_comes_from_the_cache(started: Any, caplog) -> None:
    application, _ = started
    caplog.set_level(logging.INFO)

    await send(application, "/trend 24h")
    await send(application, "/trend 24h", update_id=2)

    origins = [
        record.getMessage().split("analyst=")[1].split()[0]
        for record in caplog.records
        if "command=trend" in record.getMessage()
    ]
    assert origins == ["builtin", "cache"]


async def test_french_user_gets_french_replies(started: Any) -> None:
    application, request = started

    await send(application, "/trend 30d", language_code="fr")
    await send(application, "/help", language_code="fr-FR", update_id=2)

    trend, help_text = request.sent_texts()
    assert trend.startswith("<b>BTC sur 30\u00a0j</b>")
    assert "pas un conseil financier" in help_text


async def test_news_lists_headlines_with_escaped_titles_and_links(started: Any) -> None:
    application, request = started

    await send(application, "/news 3")

    (reply,) = request.sent_texts()
    assert reply.count('<a href="') == 3
    assert "&amp;amp;" not in reply


async def test_status_is_for_admins_only(started: Any) -> None:
    application, request = started

    await send(application, "/status", user_id=999)
    await send(application, "/status", user_id=ADMIN_ID, update_id=2)

    refused, allowed = request.sent_texts()
    assert refused == "Sorry, /status is for the bot's administrators only."
    assert "8681 candles" in allowed
    assert "Newest candle closed 2025-11-23 00:00 UTC" in allowed


async def test_bad_window_gets_a_usage_message_with_the_argument_escaped(started: Any) -> None:
    application, request = started

    await send(application, "/trend <b>soon</b>")

    (reply,) = request.sent_texts()
    assert "&lt;b&gt;soon&lt;/b&gt;" in reply
    assert "<b>soon" not in reply


async def test_edited_command_and_command_for_another_bot_are_ignored(started: Any) -> None:
    application, request = started

    await send(application, "/trend 7d", edited=True)
    await send(application, "/trend@OtherBot 7d", chat_type="supergroup", update_id=2)

    assert request.sent_texts() == []


def test_running_without_a_token_is_refused_with_the_setting_named(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        build_application(settings)
