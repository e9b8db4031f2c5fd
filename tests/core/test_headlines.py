import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.errors import BadResponseError
from core.headlines import (
    KEY_MAX_LENGTH,
    clean_text,
    headline_key,
    normalise_link,
    parse_feed,
)

NEWS = Path(__file__).resolve().parent.parent / "fixtures" / "news"
COINDESK = NEWS / "coindesk_rss_2026-09-25.xml"
COINTELEGRAPH = NEWS / "cointelegraph_rss_2026-09-30.xml"
DECRYPT = NEWS / "decrypt_rescraped_2026-02-02.xml"
BITCOINMAGAZINE = NEWS / "bitcoinmagazine_rescraped_2026-02-15.xml"


def items_of(path: Path) -> tuple[str, list[str], str]:
    """Split a real feed into its head, its <item> blocks and its tail."""
    text = path.read_text(encoding="utf-8")
    blocks = re.findall(r"<item>.*?</item>", text, flags=re.DOTALL)
    head = text[: text.index(blocks[0])]
    tail = text[text.index(blocks[-1]) + len(blocks[-1]) :]
    return head, blocks, tail


def feed_with(path: Path, items: list[str]) -> bytes:
    """Derive a feed: the real feed's channel around the given items."""
    head, _, tail = items_of(path)
    return (head + "\n".join(items) + tail).encode("utf-8")


def with_title(item: str, title_xml: str) -> str:
    return re.sub(r"<title>.*?</title>", f"<title>{title_xml}</title>", item, flags=re.DOTALL)


# --- clean_text ----------------------------------------------------------------------------


def test_clean_text_decodes_entities_once() -> None:
    assert clean_text("Tom &amp;amp; Jerry &amp;#8217; s", 100) == "Tom &amp; Jerry &#8217; s"
    assert clean_text("Bitcoin&#8217;s rise &amp; fall", 100) == "Bitcoin’s rise & fall"


def test_clean_text_keeps_lone_angle_brackets_and_ampersands() -> None:
    assert clean_text("Price < $100k > expected & more", 100) == "Price < $100k > expected & more"


def test_clean_text_removes_tags_and_script_and_style_bodies() -> None:
    raw = (
        '<p>Hello<script>alert("x")</script> <b>bold</b>er <style>p{}</style>world</p><p>Next</p>'
    )

    assert clean_text(raw, 100) == "Hello bolder world Next"


def test_clean_text_removes_control_zero_width_and_bidi_characters() -> None:
    raw = "A\u200bB\u200d\u202eC\u202c\u2066D\u2069\x07E\ufeff\x00F"

    assert clean_text(raw, 100) == "ABCDEF"


def test_clean_text_collapses_every_kind_of_whitespace() -> None:
    assert clean_text("  one\t\ttwo\r\nthree\u00a0four\u2028five  ", 100) == (
        "one two three four five"
    )


def test_clean_text_caps_at_a_word_boundary_with_an_ellipsis() -> None:
    text = "Bitcoin reclaims seventy thousand dollars"

    assert clean_text(text, len(text)) == text
    assert clean_text(text, 20) == "Bitcoin reclaims…"
    assert clean_text(text, 17) == "Bitcoin reclaims…"
    assert clean_text(text, 16) == "Bitcoin…"
    assert len(clean_text(text, 20)) <= 20


def test_clean_text_cuts_a_single_long_word_inside() -> None:
    assert clean_text("Supercalifragilistic", 8) == "Superca…"
    assert clean_text("Supercalifragilistic", 1) == "…"


def test_clean_text_refuses_a_length_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        clean_text("anything", 0)


def test_titles_from_a_derived_feed_end_as_plain_text() -> None:
    # Derived from the real CoinDesk feed: its first item with four hostile titles.
    _, items, _ = items_of(COINDESK)
    titles = [
        "Tom &amp;amp; Jerry&amp;#8217;s rally",
        '&lt;a href="https://example.com/x"&gt;Bitcoin&lt;/a&gt; hits &lt;b&gt;record&lt;/b&gt;',
        "Price &lt; $100k &gt; expected",
        '<![CDATA[Tether <script>alert("x");</script>freezes wallet]]>',
    ]
    derived = [
        with_title(items[0], title).replace("a0b4a6ba", f"a0b4a6b{number}")
        for number, title in enumerate(titles)
    ]

    parsed = parse_feed(feed_with(COINDESK, derived), "coindesk")

    assert [headline.title for headline in parsed.headlines] == [
        "Tom & Jerry’s rally",
        "Bitcoin hits record",
        "Price < $100k > expected",
        "Tether freezes wallet",
    ]


# --- normalise_link ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://cointelegraph.com/news/what-happened-in-crypto-today"
            "?utm_source=rss_feed&utm_medium=rss&utm_campaign=rss_partner_inbound",
            "https://cointelegraph.com/news/what-happened-in-crypto-today",
        ),
        (
            "HTTPS://WWW.CoinDesk.COM/Markets/2026/?id=7&fbclid=abc#comments",
            "https://www.coindesk.com/Markets/2026?id=7",
        ),
        (
            "https://decrypt.co/356530/story/?ref=twitter&gclid=x&page=2",
            "https://decrypt.co/356530/story?page=2",
        ),
        ("https://example.com:443/a/", "https://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com/", "https://example.com"),
        ("  https://example.com/a?b=2&a=1  ", "https://example.com/a?b=2&a=1"),
        ("https://example.com/a?UTM_Source=x", "https://example.com/a"),
        ("not a link", "not a link"),
        ("/relative/path/", "/relative/path/"),
    ],
)
def test_normalise_link(url: str, expected: str) -> None:
    assert normalise_link(url) == expected


# --- headline_key --------------------------------------------------------------------------


def test_key_comes_from_the_guid_then_the_link_then_the_title() -> None:
    assert headline_key("a0b4a6ba-5569", "https://x.com/a", "T") == "guid:a0b4a6ba-5569"
    assert headline_key(None, "https://X.com/a/?utm_source=rss", "T") == "link:https://x.com/a"
    assert headline_key("  ", None, "  Bitcoin  RISES ") == "title:bitcoin rises"


def test_a_guid_that_is_a_web_address_is_keyed_as_a_link() -> None:
    permalink = "https://cointelegraph.com/news/what-happened-in-crypto-today"
    linked = permalink + "?utm_source=rss_feed&utm_medium=rss"

    assert headline_key(permalink, linked, "x") == headline_key(None, linked, "y")


def test_the_three_kinds_of_key_never_collide() -> None:
    keys = {
        headline_key("same", None, "x"),
        headline_key(None, "same", "x"),
        headline_key(None, None, "same"),
    }

    assert keys == {"guid:same", "link:same", "title:same"}


def test_a_long_key_is_hashed_to_a_bounded_length() -> None:
    long_guid = "tag:example.com,2026:" + "x" * 500

    key = headline_key(long_guid, None, "t")

    assert re.fullmatch(r"guid#[0-9a-f]{64}", key)
    assert len(key) <= KEY_MAX_LENGTH
    assert key == headline_key(long_guid, None, "other title")
    assert key != headline_key(long_guid + "y", None, "t")


def test_a_key_needs_something_to_be_made_of() -> None:
    with pytest.raises(ValueError, match="GUID, a link or a title"):
        headline_key(None, "", "   ")


def test_duplicates_in_a_fetch_kept_once_and_twins_from_another_feed_share_keys() -> None:
    # Derived from the real Decrypt feed: X keeps guid g1, Y loses its guid (its link L
    # stays), and two more items share guid g2.
    _, items, _ = items_of(DECRYPT)
    x = re.sub(r"<guid[^>]*>.*?</guid>", "<guid isPermaLink='false'>g1</guid>", items[0])
    y = re.sub(r"<guid[^>]*>.*?</guid>", "", items[1])
    z1 = re.sub(r"<guid[^>]*>.*?</guid>", "<guid isPermaLink='false'>g2</guid>", items[2])
    z2 = re.sub(r"<guid[^>]*>.*?</guid>", "<guid isPermaLink='false'>g2</guid>", items[3])
    first = parse_feed(feed_with(DECRYPT, [x, y, z1, z2]), "decrypt")

    # Derived: Y again, from another feed's channel, with utm_ parameters on its link;
    # and once more with its address as a permalink GUID, as Cointelegraph writes them.
    link = "https://decrypt.co/356450/india-crypto-taxes-trading-shifts-offshore"
    y_tracked = y.replace(
        f"<link>{link}</link>", f"<link>{link}/?utm_source=rss&amp;utm_medium=feed</link>"
    )
    y_permalink = y.replace("</title>", f"</title><guid isPermaLink='true'>{link}</guid>")
    second = parse_feed(feed_with(BITCOINMAGAZINE, [y_tracked, y_permalink]), "bitcoinmagazine")

    assert [headline.key for headline in first.headlines] == [
        "guid:g1",
        f"link:{link}",
        "guid:g2",
    ]
    assert (first.duplicates, first.dropped) == (1, 0)
    assert [headline.key for headline in second.headlines] == [f"link:{link}"]
    assert second.duplicates == 1
    assert second.headlines[0].link == link


def test_real_cointelegraph_keys_ignore_the_utm_parameters_on_links() -> None:
    parsed = parse_feed(COINTELEGRAPH.read_bytes(), "cointelegraph")

    assert parsed.headlines[3].key == (
        "link:https://cointelegraph.com/news/what-happened-in-crypto-today"
    )
    assert (
        parsed.headlines[3].link == "https://cointelegraph.com/news/what-happened-in-crypto-today"
    )


# --- parse_feed ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "count"), [(COINDESK, 3), (COINTELEGRAPH, 4), (DECRYPT, 10), (BITCOINMAGAZINE, 6)]
)
def test_every_real_feed_parses_whole(path: Path, count: int) -> None:
    parsed = parse_feed(path.read_bytes(), "feed")

    assert (len(parsed.headlines), parsed.dropped, parsed.duplicates, parsed.irregular) == (
        count,
        0,
        0,
        False,
    )
    assert all(headline.published_at is not None for headline in parsed.headlines)
    assert all(
        headline.link and headline.link.startswith("https://") for headline in parsed.headlines
    )


def test_real_coindesk_items_read_as_expected() -> None:
    first = parse_feed(COINDESK.read_bytes(), "coindesk").headlines[0]

    assert first.key == "guid:a0b4a6ba-5569-4fef-940c-e402f9698d89"
    assert first.title == (
        "Circle and Tether step in to freeze hacker wallet after massive Bitget crypto heist"
    )
    assert first.source == "coindesk"
    assert first.published_at == datetime(2026, 9, 25, 14, 41, 53, tzinfo=UTC)
    assert first.summary == (
        "The stablecoin issuer blacklisted a wallet holding about $318,000 in USDT and USDC. "
        "Most of the stolen funds sit in ether, which can't be frozen."
    )


def test_real_cointelegraph_text_keeps_curly_quotes_and_loses_html() -> None:
    headlines = parse_feed(COINTELEGRAPH.read_bytes(), "cointelegraph").headlines

    assert (
        headlines[1].title == "Bitget ‘gradually back to usual’ as protection fund reaches $309M"
    )
    assert headlines[2].title == "Could THORChain face prosecution over stolen Bitget funds?"
    assert headlines[0].summary.startswith("Petrobras developed two Cardano-based applications")
    assert "<" not in headlines[0].summary


def test_real_decrypt_order_is_kept_oldest_first() -> None:
    headlines = parse_feed(DECRYPT.read_bytes(), "decrypt").headlines

    dates = [headline.published_at for headline in headlines]
    assert dates == sorted(dates)  # type: ignore[type-var]


def test_dates_fall_back_from_published_to_updated_to_none() -> None:
    # Derived from the real Cointelegraph feed: item 1 as is (pubDate), item 2 with only its
    # atom:updated, item 3 with only an unparsable pubDate, item 4 with no date at all.
    _, items, _ = items_of(COINTELEGRAPH)
    only_updated = re.sub(r"<pubDate>.*?</pubDate>", "", items[1])
    unparsable = re.sub(
        r"<pubDate>.*?</pubDate>", "<pubDate>Mo, 25 Jun 2018 11:41:36</pubDate>", items[2]
    )
    unparsable = re.sub(r"<atom:updated>.*?</atom:updated>", "", unparsable)
    no_date = re.sub(r"<(pubDate|atom:updated)>.*?</\1>", "", items[3])

    parsed = parse_feed(
        feed_with(COINTELEGRAPH, [items[0], only_updated, unparsable, no_date]), "cointelegraph"
    )

    assert [headline.published_at for headline in parsed.headlines] == [
        datetime(2026, 9, 30, 17, 17, 54, tzinfo=UTC),
        datetime(2026, 9, 30, 16, 32, 6, tzinfo=UTC),
        None,
        None,
    ]


def test_an_unparsable_published_date_falls_back_to_the_updated_one() -> None:
    # Derived from the real Cointelegraph feed: item 3's pubDate made unparsable.
    _, items, _ = items_of(COINTELEGRAPH)
    unparsable = re.sub(
        r"<pubDate>.*?</pubDate>", "<pubDate>Mo, 25 Jun 2018 11:41:36</pubDate>", items[2]
    )

    parsed = parse_feed(feed_with(COINTELEGRAPH, [unparsable]), "cointelegraph")

    assert parsed.headlines[0].published_at == datetime(2026, 9, 30, 3, 10, 48, tzinfo=UTC)


def test_entries_without_a_title_are_dropped_and_counted() -> None:
    # Derived from the real Decrypt feed: one item without a title, one with an empty
    # title, one whose title is only a script.
    _, items, _ = items_of(DECRYPT)
    untitled = re.sub(r"<title>.*?</title>", "", items[0])
    empty = with_title(items[1], "   ")
    script_only = with_title(items[2], "<![CDATA[<script>alert(1)</script>]]>")

    parsed = parse_feed(feed_with(DECRYPT, [untitled, empty, script_only, items[3]]), "decrypt")

    assert [headline.title for headline in parsed.headlines] == [
        "The Biggest Games Releasing in February 2026"
    ]
    assert parsed.dropped == 3


def test_a_malformed_feed_with_usable_entries_is_used_and_marked_irregular() -> None:
    # Derived: the real Decrypt feed cut off inside its sixth item.
    content = DECRYPT.read_bytes()
    sixth = content.index(b"<item>", content.index(b"356483"))
    truncated = content[: sixth + 200]

    parsed = parse_feed(truncated, "decrypt")

    assert parsed.irregular is True
    assert len(parsed.headlines) == 6
    assert parsed.headlines[0].title.startswith("Bitcoin Mining Profits Hit 14-Month Low")


def test_an_atom_feed_parses_with_updated_dates() -> None:
    # Derived: two real Decrypt items written as an Atom feed.
    atom = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Decrypt</title><id>https://decrypt.co/</id><updated>2026-02-02T07:32:40Z</updated>
  <entry>
    <title type="html">UAE Royal&amp;#8217;s Alleged Stake in Trump Crypto Venture
      Raises Ethical Concerns</title>
    <link href="https://decrypt.co/356591/uae-royals-trump-crypto-venture-ethical-concerns"/>
    <id>https://decrypt.co/356591/uae-royals-trump-crypto-venture-ethical-concerns</id>
    <updated>2026-02-02T01:28:36Z</updated>
    <summary>A foreign investment in a Trump crypto firm reportedly preceded a reversal in
      U.S. AI chip restrictions, prompting corruption allegations.</summary>
  </entry>
  <entry>
    <title>Bitcoin Derivatives Signal Elevated Stress Following Market Rout</title>
    <link href="https://decrypt.co/356594/bitcoin-derivatives-signal-elevated-stress"/>
    <id>tag:decrypt.co,2026:356594</id>
    <published>2026-02-02T04:42:40Z</published>
    <updated>2026-02-02T05:00:00Z</updated>
  </entry>
</feed>"""

    parsed = parse_feed(atom.encode("utf-8"), "decrypt")

    assert parsed.headlines[0].summary == (
        "A foreign investment in a Trump crypto firm reportedly preceded a reversal in "
        "U.S. AI chip restrictions, prompting corruption allegations."
    )

    assert [(h.key, h.title, h.published_at) for h in parsed.headlines] == [
        (
            "link:https://decrypt.co/356591/uae-royals-trump-crypto-venture-ethical-concerns",
            "UAE Royal’s Alleged Stake in Trump Crypto Venture Raises Ethical Concerns",
            datetime(2026, 2, 2, 1, 28, 36, tzinfo=UTC),
        ),
        (
            "guid:tag:decrypt.co,2026:356594",
            "Bitcoin Derivatives Signal Elevated Stress Following Market Rout",
            datetime(2026, 2, 2, 4, 42, 40, tzinfo=UTC),
        ),
    ]


@pytest.mark.parametrize(
    "content",
    [
        b"<!doctype html><html><body><h1>Service unavailable</h1></body></html>",
        b"",
        b'{"status": "ok"}',
        str(COINDESK).encode(),  # a path: must not be opened as a file
    ],
)
def test_a_document_with_no_usable_entry_is_a_bad_response(content: bytes) -> None:
    with pytest.raises(BadResponseError, match="no usable feed entries") as caught:
        parse_feed(content, "coindesk")

    assert caught.value.source == "coindesk"


def test_a_feed_of_only_untitled_entries_is_a_bad_response() -> None:
    _, items, _ = items_of(DECRYPT)
    untitled = [re.sub(r"<title>.*?</title>", "", item) for item in items[:2]]

    with pytest.raises(BadResponseError):
        parse_feed(feed_with(DECRYPT, untitled), "decrypt")
