"""Tests for reading time windows from what users type, hostile text included."""

from __future__ import annotations

import random
import time
from datetime import timedelta

import pytest

from core.candles import Interval
from core.errors import BitcoinAnalyzerError, InputError
from core.windows import ECHO_CHARS, MAX_HOURS, MIN_HOURS, Window, parse_window


@pytest.mark.parametrize(
    ("text", "label", "hours", "interval"),
    [
        ("6h", "6h", 6, Interval.HOUR),
        ("24h", "24h", 24, Interval.HOUR),
        ("7d", "7d", 168, Interval.HOUR),
        ("30d", "30d", 720, Interval.HOUR),
        ("31d", "31d", 744, Interval.DAY),
        ("90d", "90d", 2160, Interval.DAY),
        ("1y", "1y", 8760, Interval.DAY),
        ("720h", "720h", 720, Interval.HOUR),
        ("721h", "721h", 721, Interval.DAY),
        ("24H", "24h", 24, Interval.HOUR),
        ("  7D  ", "7d", 168, Interval.HOUR),
        ("\t3h\n", "3h", 3, Interval.HOUR),
        ("2w", "14d", 336, Interval.HOUR),
        ("1 week", "7d", 168, Interval.HOUR),
        ("7j", "7d", 168, Interval.HOUR),
        ("7 jours", "7d", 168, Interval.HOUR),
        ("7\u00a0jours", "7d", 168, Interval.HOUR),
        ("1 an", "1y", 8760, Interval.DAY),
        ("2 ans", "2y", 17520, Interval.DAY),
        ("1a", "1y", 8760, Interval.DAY),
        ("3 années", "3y", 26280, Interval.DAY),
        ("3 annees", "3y", 26280, Interval.DAY),
        ("3 ANNÉES", "3y", 26280, Interval.DAY),
        ("3 mois", "90d", 2160, Interval.DAY),
        ("12 heures", "12h", 12, Interval.HOUR),
        ("2 semaines", "14d", 336, Interval.HOUR),
        ("007d", "7d", 168, Interval.HOUR),
        ("７ｄ", "7d", 168, Interval.HOUR),
        ("２４Ｈ", "24h", 24, Interval.HOUR),
        ("7\u3000jours", "7d", 168, Interval.HOUR),
    ],
)
def test_accepted_windows_are_normalised(
    text: str, label: str, hours: int, interval: Interval
) -> None:
    window = parse_window(text)

    assert (window.label, window.hours, window.interval) == (label, hours, interval)
    assert window.duration == timedelta(hours=hours)
    assert window.clamped is False
    assert window.clamped_from is None


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_no_text_means_the_default_window(text: str | None) -> None:
    assert parse_window(text).label == "24h"
    assert parse_window(text, default="7d").label == "7d"


def test_a_decomposed_accent_reads_like_a_composed_one() -> None:
    assert parse_window("2 anne\u0301es").label == "2y"


@pytest.mark.parametrize(
    ("text", "label", "clamped_from"),
    [
        ("1h", "3h", "1h"),
        ("2 heures", "3h", "2h"),
        ("11y", "10y", "11y"),
        ("3651d", "10y", "3651d"),
        ("522w", "10y", "3654d"),
        ("9999999999999999999999999h", "10y", "9999999999999999999999999h"),
        ("9999999999999999999999999y", "10y", "9999999999999999999999999y"),
        ("99999999999999999999999999999d", "10y", "99999999999999999999999999999d"),
    ],
)
def test_out_of_range_windows_are_clamped_not_refused(
    text: str, label: str, clamped_from: str
) -> None:
    window = parse_window(text)

    assert window.label == label
    assert window.clamped is True
    assert window.clamped_from == clamped_from
    assert MIN_HOURS <= window.hours <= MAX_HOURS


def test_the_bounds_themselves_are_not_clamped() -> None:
    assert parse_window("3h").clamped is False
    assert parse_window("10y").clamped is False
    assert parse_window("87600h").clamped is False
    assert parse_window("87601h").clamped_from == "87601h"


def test_candle_counts_follow_the_interval() -> None:
    assert parse_window("24h").candle_count == 24
    assert parse_window("30d").candle_count == 720
    assert parse_window("1y").candle_count == 365
    assert parse_window("1000h").candle_count == 41
    assert str(parse_window("7 jours")) == "7d"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("abc", "window_format"),
        ("week", "window_format"),
        ("d7", "window_format"),
        ("1.5d", "window_format"),
        ("1,5d", "window_format"),
        ("+7d", "window_format"),
        ("*7d*", "window_format"),
        ("_7d_", "window_format"),
        ("`7d`", "window_format"),
        ("[7d](http://x)", "window_format"),
        ("<b>7d</b>", "window_format"),
        ("7d;", "window_format"),
        ("٧d", "window_format"),
        ("7²d", "window_format"),
        ("0x10d", "window_format"),
        ("7", "window_unit"),
        ("7m", "window_unit"),
        ("7 ", "window_unit"),
        ("7 minutes", "window_unit"),
        ("7 lightyears", "window_unit"),
        ("-7d", "window_not_positive"),
        ("−7d", "window_not_positive"),
        ("–7d", "window_not_positive"),
        ("0d", "window_not_positive"),
        ("0000h", "window_not_positive"),
        ("0 jours", "window_not_positive"),
        ("7d 24h", "window_several"),
        ("7d, 24h", "window_several"),
        ("7 d h", "window_several"),
        ("7d please", "window_several"),
        ("7 jours stp", "window_several"),
        ("7\u202ed", "window_characters"),
        ("\u202e7d", "window_characters"),
        ("7d\u2066", "window_characters"),
        ("7\u200bd", "window_characters"),
        ("7\x00d", "window_characters"),
        ("7\x1bd", "window_characters"),
        ("7\ue000d", "window_characters"),
        ("7d" * 17, "window_too_long"),
        ("x" * 5000, "window_too_long"),
        ("9" * 33 + "h", "window_too_long"),
    ],
)
def test_bad_windows_are_refused_with_a_stable_code(text: str, code: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_window(text)

    assert caught.value.code == code
    echo = caught.value.params["text"]
    assert isinstance(echo, str)
    assert len(echo) <= ECHO_CHARS


def test_the_echoed_text_is_cut_and_stripped_of_bidi_and_control_characters() -> None:
    with pytest.raises(InputError) as caught:
        parse_window("\u202e7d\u2066 evil\x1b")

    assert caught.value.params == {"text": "7d evil"}

    with pytest.raises(InputError) as long_caught:
        parse_window("z" * 5000)

    assert long_caught.value.params == {"text": "z" * ECHO_CHARS}


def test_a_non_text_argument_is_an_input_error() -> None:
    with pytest.raises(InputError) as caught:
        parse_window(7)  # type: ignore[arg-type]

    assert caught.value.code == "window_format"


@pytest.mark.parametrize(
    "text",
    [
        "x" * 5000,
        "9" * 5000,
        "7" * 25 + "d",
        " " * 5000 + "7d",
        "\u202e" * 5000,
        "7d " * 1700,
        "é" * 100_000,
    ],
)
def test_hostile_input_is_handled_fast(text: str) -> None:
    started = time.perf_counter()
    for _ in range(100):
        try:
            parse_window(text)
        except InputError:
            pass
    per_call = (time.perf_counter() - started) / 100

    assert per_call < 0.001


def test_random_text_never_raises_anything_but_input_error() -> None:
    generator = random.Random(20251122)
    alphabet = "0123456789hdwyjan sjourmois-+.,*_`<>/\\\u202e\u200b\u00a0７ｄé\x00\n"

    for _ in range(3000):
        length = generator.randint(0, 40)
        text = "".join(generator.choice(alphabet) for _ in range(length))
        try:
            window = parse_window(text)
        except InputError as error:
            assert isinstance(error, BitcoinAnalyzerError)
            assert error.code.startswith("window_")
        else:
            assert isinstance(window, Window)
            assert MIN_HOURS <= window.hours <= MAX_HOURS

    for _ in range(3000):
        length = generator.randint(0, 40)
        text = "".join(chr(generator.randint(0, 0x10FFFF)) for _ in range(length))
        try:
            parse_window(text)
        except InputError:
            pass


def test_input_error_stays_compatible_with_a_plain_message() -> None:
    error = InputError("cannot read that")

    assert str(error) == "cannot read that"
    assert error.code == "input"
    assert error.params == {}
