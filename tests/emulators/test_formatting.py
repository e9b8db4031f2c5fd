"""Telegram's formatting rules as the fake Bot API applies them, case by case."""

from __future__ import annotations

import pytest

from tests.emulators.formatting import (
    EntityParseError,
    parse_formatted,
    parse_html,
    parse_markdown,
    parse_markdown_v2,
    utf16_length,
)


def test_utf16_length_counts_astral_characters_twice() -> None:
    assert [utf16_length(text) for text in ("a", "é", "€", "😀", "👍🏽")] == [1, 1, 1, 2, 4]


@pytest.mark.parametrize(
    ("html", "text", "entities"),
    [
        ("<b>a<i>b</i></b>", "ab", [("bold", 0, 2), ("italic", 1, 1)]),
        (
            "<strong>s</strong><em>e</em><ins>i</ins><del>d</del>",
            "seid",
            [("bold", 0, 1), ("italic", 1, 1), ("underline", 2, 1), ("strikethrough", 3, 1)],
        ),
        (
            '<tg-spoiler>s</tg-spoiler><span class="tg-spoiler">t</span>',
            "st",
            [("spoiler", 0, 1), ("spoiler", 1, 1)],
        ),
        ("<blockquote expandable>q</blockquote>", "q", [("expandable_blockquote", 0, 1)]),
        ("😀<u>x</u>", "😀x", [("underline", 2, 1)]),
        ("<B>loud</B>", "loud", [("bold", 0, 4)]),
        ("<b></b>empty", "empty", []),
    ],
)
def test_html_entities_have_utf16_offsets(
    html: str, text: str, entities: list[tuple[str, int, int]]
) -> None:
    parsed = parse_html(html)

    assert parsed.text == text
    assert [(e["type"], e["offset"], e["length"]) for e in parsed.entities] == entities


def test_html_code_inside_pre_becomes_pre_with_a_language() -> None:
    parsed = parse_html('<pre><code class="language-python">x = 1</code></pre>')

    assert parsed.entities == [{"offset": 0, "length": 5, "type": "pre", "language": "python"}]


def test_html_links_keep_their_url() -> None:
    parsed = parse_html(
        "<a href='https://example.org/?q=1&amp;r=2'>chart</a> <a>https://x.org</a>"
    )

    assert [e["url"] for e in parsed.entities] == ["https://example.org/?q=1&r=2", "https://x.org"]


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("&lt;&gt;&amp;&quot;", '<>&"'),
        ("&#128512;&#x1F600;", "😀😀"),
        ("&amp without semicolon", "& without semicolon"),
        ("AT&T &nbsp; &#X41;", "AT&T &nbsp; &#X41;"),
        ("2 > 1", "2 > 1"),
    ],
)
def test_html_entities_decode_like_telegram(html: str, text: str) -> None:
    assert parse_html(html).text == text


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<!-- note -->", 'Unsupported start tag "!--" at byte offset 0'),
        ("1 <= 2", 'Unsupported start tag "=" at byte offset 2'),
        ("<br/>", 'Unsupported start tag "br/" at byte offset 0'),
        ("x\n<b>y", "Can't find end tag corresponding to start tag b"),
        ('<tg-emoji emoji-id="abc">x</tg-emoji>', "Invalid custom emoji identifier specified"),
    ],
)
def test_html_errors_use_telegrams_words(html: str, reason: str) -> None:
    with pytest.raises(EntityParseError) as raised:
        parse_html(html)

    assert str(raised.value) == reason


def test_strict_ampersand_refuses_what_telegram_would_keep() -> None:
    assert parse_html("S&P").text == "S&P"
    with pytest.raises(EntityParseError, match="strict_ampersand"):
        parse_html("S&P", strict_ampersand=True)


def test_markdown_v2_entities_and_escapes() -> None:
    parsed = parse_markdown_v2("*b* _i_ __u__ ~s~ ||sp|| `c` [t](https://x.org/a\\)b) 2\\.5")

    assert parsed.text == "b i u s sp c t 2.5"
    assert [(e["type"], e["offset"], e["length"]) for e in parsed.entities] == [
        ("bold", 0, 1),
        ("italic", 2, 1),
        ("underline", 4, 1),
        ("strikethrough", 6, 1),
        ("spoiler", 8, 2),
        ("code", 11, 1),
        ("text_link", 13, 1),
    ]
    assert parsed.entities[-1]["url"] == "https://x.org/a)b"


def test_markdown_v2_block_quotation_ends_at_a_line_without_marker() -> None:
    parsed = parse_markdown_v2(">quote\n>more\nafter")

    assert parsed.text == "quote\nmore\nafter"
    assert parsed.entities == [{"type": "blockquote", "offset": 0, "length": 10}]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("up 2.5", "Character '.' is reserved and must be escaped with the preceding '\\'"),
        ("*open", "Can't find end of Bold entity at byte offset 0"),
        ("€ __u", "Can't find end of Underline entity at byte offset 4"),
        ("[t](https://x.org", "Can't find end of a URL at byte offset 4"),
    ],
)
def test_markdown_v2_errors_use_telegrams_words(text: str, reason: str) -> None:
    with pytest.raises(EntityParseError) as raised:
        parse_markdown_v2(text)

    assert str(raised.value) == reason


def test_legacy_markdown_entities_and_its_one_error() -> None:
    parsed = parse_markdown("*b* _i_ `c` ```py\ncode``` [t](https://x.org) \\*")

    assert parsed.text == "b i c code t *"
    assert [e["type"] for e in parsed.entities] == ["bold", "italic", "code", "pre", "text_link"]
    with pytest.raises(EntityParseError) as raised:
        parse_markdown("snake_case")
    assert str(raised.value) == "Can't find end of the entity starting at byte offset 5"


def test_an_unknown_parse_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported parse_mode"):
        parse_formatted("x", "RichText")
    assert parse_formatted("<b>x</b>", None).text == "<b>x</b>"
    assert parse_formatted("<b>x</b>", "html").text == "x"
