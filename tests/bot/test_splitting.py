"""Long replies cut into parts Telegram accepts, checked with the fake Bot API's own parser."""

from __future__ import annotations

import html

import pytest

from bot.splitting import TELEGRAM_TEXT_LIMIT, split_message, utf16_length
from tests.emulators.formatting import parse_formatted


def accepted(part: str) -> str:
    """The text Telegram would show for a part, after checking it would take it."""
    parsed = parse_formatted(part, "HTML")  # raises on markup Telegram refuses
    assert utf16_length(parsed.text) <= TELEGRAM_TEXT_LIMIT
    assert parsed.text.strip()
    return parsed.text


def headline(index: int) -> str:
    # Derived: a title shaped like the real ones, with an emoji, an ampersand and a tag-like
    # text that must stay text.
    title = html.escape(f"📈 Bitcoin & <ETF> flows, story {index}: " + "market update " * 12)
    link = f"https://example.org/news/{index}?a=1&amp;b=2"
    return f'<a href="{link}"><b>{title}</b></a>\nsource · 2026-10-{index % 28 + 1:02d} 12:00 UTC'


def test_a_short_reply_is_left_whole() -> None:
    assert split_message("<b>BTC</b>\nfine") == ["<b>BTC</b>\nfine"]


def test_a_long_news_reply_is_cut_between_paragraph_lines_and_every_part_parses() -> None:
    reply = "<b>Latest headlines</b>\n\n" + "\n\n".join(headline(index) for index in range(40))

    parts = split_message(reply)

    assert len(parts) > 1
    assert utf16_length(reply) > TELEGRAM_TEXT_LIMIT
    shown = [accepted(part) for part in parts]
    assert all(utf16_length(part) <= TELEGRAM_TEXT_LIMIT for part in parts)
    kept = [line for part in parts for line in part.split("\n") if line]
    assert kept == [line for line in reply.split("\n") if line]
    assert "".join(shown).count("📈") == 40
    assert all(not part.startswith("\n") and not part.endswith("\n") for part in parts)


def test_emoji_count_twice_so_a_reply_under_4096_characters_may_still_be_cut() -> None:
    reply = "\n".join("📈" * 100 for _ in range(21))
    assert len(reply) <= TELEGRAM_TEXT_LIMIT < utf16_length(reply)

    parts = split_message(reply)

    assert len(parts) == 2
    assert all(utf16_length(accepted(part)) <= TELEGRAM_TEXT_LIMIT for part in parts)
    assert "\n".join(parts) == reply


def test_a_tag_spanning_lines_is_never_cut() -> None:
    reply = "intro line\n<b>first bold line\nsecond bold line</b>\nlast line"

    parts = split_message(reply, limit=40)

    assert parts == ["intro line", "<b>first bold line\nsecond bold line</b>", "last line"]
    assert [accepted(part) for part in parts][1] == "first bold line\nsecond bold line"


def test_one_line_longer_than_the_limit_loses_its_tags_and_keeps_its_entities_whole() -> None:
    line = "<b>" + "word &amp; " * 30 + "</b>"

    parts = split_message(line, limit=64)

    shown = [accepted(part) for part in parts]
    assert all(utf16_length(part) <= 64 for part in parts)
    assert "".join(shown).replace(" ", "") == ("word&" * 30)
    assert all("<b>" not in part for part in parts)


@pytest.mark.parametrize("limit", [10, 11, 12, 13])
def test_a_cut_without_spaces_never_splits_a_character_reference(limit: int) -> None:
    line = "x" * 7 + "&amp;" * 10

    parts = split_message(line, limit=limit)

    # Telegram shows a broken reference ("&am", "p;") as text, so check what it would show.
    assert "".join(accepted(part) for part in parts) == "x" * 7 + "&" * 10
    assert "".join(parts) == line


def test_a_line_of_emoji_without_spaces_is_cut_between_emoji() -> None:
    line = "₿📈" * 3000

    parts = split_message(line)

    assert all(utf16_length(part) <= TELEGRAM_TEXT_LIMIT for part in parts)
    assert "".join(parts) == line
