"""Webhook mode against the fake Bot API: setWebhook with the secret, and the secret checked."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from telegram.ext import Application

from bot.telegram_bot import ALLOWED_UPDATES, build_application, webhook_options
from core.errors import ConfigError
from core.settings import Settings, load_settings
from tests.emulators.telegram import FakeTelegram

TOKEN = "123456789:test-token-not-a-real-one"
SECRET = "s3cret-Token_for-tests"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CHAT_ID = 100000001


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as telegram:
        yield telegram


@pytest.fixture
def webhook_settings(seeded_settings: Settings, fake: FakeTelegram) -> Settings:
    port = free_port()
    return load_settings(
        data_dir=seeded_settings.data_dir,
        telegram_bot_token=TOKEN,
        telegram_api_base_url=fake.base_url,
        telegram_file_base_url=fake.base_file_url,
        # Only handed to the fake Bot API, which records it; nothing ever connects to it.
        webhook_url=f"https://127.0.0.1:{port}/telegram/hook",
        webhook_secret=SECRET,
        webhook_port=port,
        ingestion_enabled=False,
    )


@pytest.fixture
async def listening(
    webhook_settings: Settings,
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """The application with its webhook listener started, as ``run_webhook`` starts it."""
    application = build_application(webhook_settings)
    await application.initialize()
    assert application.post_init is not None
    await application.post_init(application)
    assert application.updater is not None
    await application.updater.start_webhook(
        **webhook_options(webhook_settings), allowed_updates=ALLOWED_UPDATES
    )
    await application.start()
    yield application
    await application.updater.stop()
    await application.stop()
    await application.shutdown()
    assert application.post_shutdown is not None
    await application.post_shutdown(application)


async def post_update(
    settings: Settings, update: dict[str, Any], secret: str | None
) -> httpx.Response:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    url = f"http://127.0.0.1:{settings.webhook_port}/telegram/hook"
    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
        return await client.post(url, json=update, headers=headers)


async def test_start_sets_the_webhook_with_its_secret_and_allowed_updates(
    listening: Any, fake: FakeTelegram, webhook_settings: Settings
) -> None:
    [call] = fake.calls("setWebhook")

    assert fake.webhook_url == webhook_settings.webhook_url
    assert call.params["secret_token"] == SECRET
    assert json.loads(call.params["allowed_updates"]) == ["message"]


async def test_an_update_with_the_secret_is_answered(
    listening: Any, fake: FakeTelegram, webhook_settings: Settings
) -> None:
    update = fake.inject_command("/news 2", chat_id=CHAT_ID, user_id=CHAT_ID)

    response = await post_update(webhook_settings, update, SECRET)

    [answer] = await fake.wait_for_sent(1, timeout=10, chat_id=CHAT_ID)
    assert response.status_code == 200
    assert answer.text is not None
    assert answer.text.count('<a href="') == 2


@pytest.mark.parametrize("secret", [None, "wrong-secret", SECRET.upper()])
async def test_an_update_without_the_right_secret_is_refused_and_never_handled(
    listening: Any, fake: FakeTelegram, webhook_settings: Settings, secret: str | None
) -> None:
    update = fake.inject_command("/help", chat_id=CHAT_ID, user_id=CHAT_ID)

    response = await post_update(webhook_settings, update, secret)
    await asyncio.sleep(0.3)  # time enough for a reply, had the update been let through

    assert response.status_code == 403
    assert fake.sent(CHAT_ID) == []


def test_a_webhook_without_a_secret_is_refused_at_start(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET is required"):
        load_settings(data_dir=tmp_path, webhook_url="https://bot.example.org/hook")


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("webhook_url", "http://bot.example.org/hook", "https://"),
        ("webhook_secret", "has spaces", "A-Z, a-z, 0-9"),
        ("webhook_secret", "x" * 257, "A-Z, a-z, 0-9"),
    ],
)
def test_bad_webhook_settings_are_refused_with_the_setting_named(
    tmp_path: Any, name: str, value: str, complaint: str
) -> None:
    with pytest.raises(ConfigError, match=name.upper()) as refused:
        load_settings(data_dir=tmp_path, **{name: value})

    assert complaint in str(refused.value)
