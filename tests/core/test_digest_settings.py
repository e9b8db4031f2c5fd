"""The digest's settings: read from the environment, refused with the setting named."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo

import pytest

from core.errors import ConfigError
from core.settings import load_settings


def test_defaults_are_eight_o_clock_utc_and_no_channel() -> None:
    settings = load_settings()

    assert (settings.digest_time, settings.digest_tz, settings.digest_chat_id) == (
        time(8, 0),
        "UTC",
        None,
    )
    assert settings.digest_zone == ZoneInfo("UTC")


def test_time_zone_and_channel_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_TIME", "9:05")
    monkeypatch.setenv("DIGEST_TZ", "Europe/Paris")
    monkeypatch.setenv("DIGEST_CHAT_ID", "-1001234567890")

    settings = load_settings()

    assert settings.digest_time == time(9, 5)
    assert settings.digest_zone == ZoneInfo("Europe/Paris")
    assert settings.digest_chat_id == -1001234567890


def test_a_channel_may_be_named_by_its_username(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_CHAT_ID", "@btc_daily")

    assert load_settings().digest_chat_id == "@btc_daily"


@pytest.mark.parametrize(
    ("zone", "words"),
    [
        ("+01:00", "fixed offset"),
        ("UTC+1", "fixed offset"),
        ("-0530", "fixed offset"),
        ("Europe/Atlantis", "unknown time zone"),
        ("localtime", "unknown time zone"),
        ("../../etc/passwd", "unknown time zone"),
    ],
)
def test_an_offset_or_an_unknown_zone_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, zone: str, words: str
) -> None:
    monkeypatch.setenv("DIGEST_TZ", zone)

    with pytest.raises(ConfigError, match=rf"DIGEST_TZ: .*{words}"):
        load_settings()


@pytest.mark.parametrize("value", ["8", "8h", "24:00", "08:60", "08:00:00", "8.30", "noon"])
def test_a_time_that_is_not_hh_mm_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("DIGEST_TIME", value)

    with pytest.raises(ConfigError, match=r"DIGEST_TIME: .*HH:MM"):
        load_settings()


def test_a_chat_id_that_is_neither_a_number_nor_a_username_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DIGEST_CHAT_ID", "my channel")

    with pytest.raises(ConfigError, match="DIGEST_CHAT_ID"):
        load_settings()
