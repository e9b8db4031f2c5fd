"""Settings never show a secret: not in repr, str, dumps, nor in a validation error."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.settings import Settings, load_settings

TOKEN = "123456789:settings-secret-part-0123"
GEMINI_KEY = "AIzaSettingsGeminiKey_0123456789abcdef"
COINGECKO_KEY = "CG-settingsDemoKey0123456789"
DATABASE_PASSWORD = "pg-Pass_word-0123"


@pytest.fixture
def secret_settings(tmp_path) -> Settings:
    return load_settings(
        data_dir=tmp_path,
        telegram_bot_token=TOKEN,
        gemini_api_key=GEMINI_KEY,
        coingecko_api_key=COINGECKO_KEY,
        database_url=f"postgresql+asyncpg://bot:{DATABASE_PASSWORD}@127.0.0.1:5432/bot",
    )


def leaked(text: str) -> list[str]:
    secrets = (TOKEN, TOKEN.split(":")[1], GEMINI_KEY, COINGECKO_KEY)
    return [secret for secret in secrets if secret in text]


def test_repr_str_and_dumps_show_no_secret(secret_settings: Settings) -> None:
    shown = [
        repr(secret_settings),
        str(secret_settings),
        f"{secret_settings}",
        secret_settings.model_dump_json(),
        str(secret_settings.model_dump()),
        repr(secret_settings.telegram_bot_token),
    ]

    assert [leaked(text) for text in shown] == [[]] * len(shown)
    assert "**********" in repr(secret_settings)
    assert DATABASE_PASSWORD not in repr(secret_settings)
    assert DATABASE_PASSWORD not in str(secret_settings)


def test_every_secret_is_known_to_the_log_masker(secret_settings: Settings) -> None:
    assert sorted(secret_settings.secret_values()) == sorted(
        [TOKEN, GEMINI_KEY, COINGECKO_KEY, DATABASE_PASSWORD]
    )


def test_without_secrets_there_is_nothing_to_mask(tmp_path) -> None:
    assert load_settings(data_dir=tmp_path).secret_values() == []


def test_a_refused_setting_is_named_without_echoing_any_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("GEMINI_API_KEY", GEMINI_KEY)
    monkeypatch.setenv("GEMINI_TIMEOUT_SECONDS", f"slow-{GEMINI_KEY}")

    with pytest.raises(ConfigError) as refused:
        load_settings()

    message = str(refused.value)
    assert message.startswith("Invalid setting GEMINI_TIMEOUT_SECONDS: ")
    assert leaked(message) == []
    assert leaked(repr(refused.value.__cause__)) == []
