"""Crypto headlines: the one shape every feed and the storage agree on, and how feeds become it.

A headline's text arrives as HTML-ish text inside XML. Two layers of escaping are involved
and each is undone exactly once: feedparser undoes the XML layer, :func:`clean_text` the HTML
layer. So the XML ``Tom &amp;amp; Jerry`` is ``Tom &amp; Jerry`` in feedparser's hands and
``Tom & Jerry`` once cleaned; the XML ``Price &lt; $100k`` is ``Price < $100k`` in
feedparser's hands and stays so, because a ``<`` before a space starts no tag.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from time import struct_time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import feedparser

from core.errors import BadResponseError

logger = logging.getLogger(__name__)

TITLE_MAX_LENGTH = 300
SUMMARY_MAX_LENGTH = 400
KEY_MAX_LENGTH = 200
ELLIPSIS = "…"

# Query parameters that only say who sent the reader, never which page they read. Any
# parameter starting with ``utm_`` is dropped as well.
TRACKING_PARAMETERS = frozenset(
    {
        "fbclid",  # Facebook
        "gclid",  # Google Ads
        "gclsrc",  # Google Ads
        "dclid",  # Google Display
        "gbraid",  # Google Ads (iOS)
        "wbraid",  # Google Ads (iOS)
        "msclkid",  # Microsoft Ads
        "yclid",  # Yandex
        "igshid",  # Instagram
        "twclid",  # X / Twitter
        "mc_cid",  # Mailchimp
        "mc_eid",  # Mailchimp
        "_hsenc",  # HubSpot
        "_hsmi",  # HubSpot
        "mkt_tok",  # Marketo
        "ref",  # generic referrer tag
        "ref_src",  # X / Twitter referrer
        "ref_url",  # X / Twitter referrer
        "referrer",  # generic referrer tag
        "cmpid",  # campaign id
        "ncid",  # campaign id
        "sr_share",  # share buttons
    }
)
TRACKING_PREFIXES = ("utm_",)

# Elements whose text is code or styling, never words for a reader.
_INVISIBLE_ELEMENTS = frozenset({"script", "style", "template", "noscript", "iframe", "object"})

# Elements that separate words visually, so their edges become a space.
_BREAKING_ELEMENTS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "img", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody",
        "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip

# Unicode categories removed outright: controls, formats (zero-width and bidi marks among
# them), surrogates and private-use code points.
_REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

# CoinDesk follows each <description> with an empty <dc:description/>, and feedparser lets
# the later, empty element replace the summary; empty ones say nothing, so they go first.
_EMPTY_DC_DESCRIPTION = re.compile(rb"<dc:description\s*/>|<dc:description>\s*</dc:description>")


@dataclass(frozen=True, slots=True)
class Headline:
    """One news item, cleaned to plain text.

    Attributes:
        key: The stable identity used to store a story once: from the GUID, else the
            normalised link, else the normalised title.
        title: The headline as plain text: no tags, entities decoded once.
        link: The article's address, when the feed gives one.
        source: The feed's short name (``coindesk``, ``cointelegraph``...).
        published_at: When the feed says it was published (else updated), UTC-aware;
            None when the feed gives no usable date.
        summary: A short plain-text summary, possibly empty.
    """

    key: str
    title: str
    link: str | None
    source: str
    published_at: datetime | None
    summary: str = ""


@dataclass(frozen=True, slots=True)
class FeedParse:
    """What one feed document gave.

    Attributes:
        headlines: The usable entries, in feed order, each key once.
        dropped: Entries left out because they had no title.
        irregular: True when the document was malformed (feedparser's ``bozo``) but still
            gave usable entries.
        duplicates: Entries left out because an earlier entry had the same key.
    """

    headlines: list[Headline] = field(default_factory=list)
    dropped: int = 0
    irregular: bool = False
    duplicates: int = 0


class _TextCollector(HTMLParser):
    """Collects the visible text of an HTML fragment, entities decoded once."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._invisible_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE_ELEMENTS:
            self._invisible_depth += 1
        if tag in _BREAKING_ELEMENTS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BREAKING_ELEMENTS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE_ELEMENTS and self._invisible_depth:
            self._invisible_depth -= 1
        if tag in _BREAKING_ELEMENTS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._invisible_depth:
            self.parts.append(data)


def clean_text(raw: str, max_length: int) -> str:
    """Turn an HTML-ish fragment into one line of plain text of at most ``max_length``.

    Tags are removed (the content of ``script`` and ``style`` with them), character
    references are decoded exactly once, control, zero-width and bidi characters are
    removed, whitespace runs become one space, and a text longer than ``max_length`` is cut
    at a word boundary and ends with an ellipsis.

    Args:
        raw: The text as the feed library hands it over (XML escaping already undone).
        max_length: The longest result allowed, ellipsis included; at least 1.

    Raises:
        ValueError: When ``max_length`` is smaller than 1.

    Note:
        A feed title is ambiguous between plain text and HTML; it is always read as HTML,
        so a plain-text title that really means ``<b>`` literally loses it.
    """
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, not {max_length}")

    collector = _TextCollector()
    collector.feed(raw)
    collector.close()
    text = "".join(collector.parts)

    visible = "".join(
        " " if char.isspace() else char
        for char in text
        if char.isspace() or unicodedata.category(char) not in _REMOVED_CATEGORIES
    )
    collapsed = " ".join(visible.split())

    return _shorten(collapsed, max_length)


def _shorten(text: str, max_length: int) -> str:
    """Cut ``text`` at a word boundary so that it fits ``max_length`` with an ellipsis."""
    if len(text) <= max_length:
        return text

    room = text[: max_length - len(ELLIPSIS)]
    boundary = room.rfind(" ")
    # A single very long word is cut inside rather than reduced to an ellipsis alone.
    if boundary > 0 and text[len(room)] != " ":
        room = room[:boundary]

    return room.rstrip() + ELLIPSIS


def normalise_link(url: str) -> str:
    """Give the canonical form of an article address, so that two spellings compare equal.

    The scheme and host are lower-cased, a default port is dropped, tracking parameters
    (every ``utm_*`` and those in :data:`TRACKING_PARAMETERS`) are removed, the other
    parameters keep their order, and the fragment and a trailing slash are removed.
    Text that is not an absolute address with a host comes back stripped of surrounding
    whitespace only.

    Args:
        url: The address as a feed gives it.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text
    if not parts.scheme or not parts.hostname:
        return text

    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    if parts.username is not None:
        credentials = parts.username
        if parts.password is not None:
            credentials = f"{credentials}:{parts.password}"
        host = f"{credentials}@{host}"

    kept_parameters = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not _is_tracking_parameter(name)
    ]
    path = parts.path.rstrip("/")

    return urlunsplit((scheme, host, path, urlencode(kept_parameters), ""))


def _is_tracking_parameter(name: str) -> bool:
    """Tell whether a query parameter only tracks where the reader came from."""
    lowered = name.lower()
    return lowered in TRACKING_PARAMETERS or lowered.startswith(TRACKING_PREFIXES)


def _looks_like_web_address(text: str) -> bool:
    """Tell whether ``text`` is an absolute http(s) address with a host."""
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def headline_key(guid: str | None, link: str | None, title: str) -> str:
    """Give the identity under which a story is stored once.

    The key comes from the first usable of: the GUID, the link, the title. It is prefixed
    by its kind so that kinds cannot collide: ``guid:`` for an opaque GUID, ``link:`` for a
    link, ``title:`` for a case-folded title. A GUID that is a web address (a permalink, or
    any GUID that merely looks like one) is normalised as a link and takes the ``link:``
    kind on purpose: the same story from another feed, or with ``utm_`` parameters on its
    link, then gets the same key. A key longer than :data:`KEY_MAX_LENGTH` becomes its kind
    followed by ``#`` and the SHA-256 of the value, so it stays bounded and cannot equal an
    unhashed key.

    Args:
        guid: The entry's GUID or Atom id, if any.
        link: The entry's link, if any.
        title: The entry's title as plain text.

    Raises:
        ValueError: When GUID, link and title are all empty.

    Note:
        Two feeds that give the same story different opaque GUIDs (CoinDesk's UUIDs, say)
        still produce two keys; matching those would need the link or the title, and a
        feed's own GUID is trusted over both.
    """
    guid_text = (guid or "").strip()
    link_text = (link or "").strip()
    title_text = " ".join(unicodedata.normalize("NFKC", title).casefold().split())

    if guid_text and _looks_like_web_address(guid_text):
        kind, value = "link", normalise_link(guid_text)
    elif guid_text:
        kind, value = "guid", guid_text
    elif link_text:
        kind, value = "link", normalise_link(link_text)
    elif title_text:
        kind, value = "title", title_text
    else:
        raise ValueError("a headline needs a GUID, a link or a title to have a key")

    key = f"{kind}:{value}"
    if len(key) <= KEY_MAX_LENGTH:
        return key
    return f"{kind}#{hashlib.sha256(value.encode('utf-8')).hexdigest()}"


def parse_feed(content: bytes, source: str) -> FeedParse:
    """Read an RSS or Atom document into cleaned headlines.

    Each entry's date is its published date, else its updated date, else None; a date
    feedparser cannot read counts as missing. Entries without a title are dropped and
    counted, and an entry whose key an earlier entry already had is left out. A malformed
    document is still used when it gives usable entries, and is marked irregular.

    Args:
        content: The document's bytes, exactly as received.
        source: The feed's short name, stored on each headline and used in errors.

    Raises:
        BadResponseError: When the document gives no usable entry at all.
    """
    document = _EMPTY_DC_DESCRIPTION.sub(b"", content)
    # A stream, because feedparser would take bytes or str as a file name or a URL to open.
    parsed = feedparser.parse(io.BytesIO(document), sanitize_html=False)
    irregular = bool(parsed.get("bozo"))

    headlines: list[Headline] = []
    seen_keys: set[str] = set()
    dropped = 0
    duplicates = 0
    for entry in parsed.entries:
        headline = _headline_from_entry(entry, source)
        if headline is None:
            dropped += 1
            continue
        if headline.key in seen_keys:
            duplicates += 1
            continue
        seen_keys.add(headline.key)
        headlines.append(headline)

    if not headlines:
        reason = parsed.get("bozo_exception") or "the document holds no entry with a title"
        raise BadResponseError(source, f"no usable feed entries ({reason})")
    if irregular:
        logger.info(
            "Feed %s is malformed but gave %d entries: %s",
            source,
            len(headlines),
            parsed.get("bozo_exception"),
        )

    return FeedParse(
        headlines=headlines, dropped=dropped, irregular=irregular, duplicates=duplicates
    )


def _headline_from_entry(entry: Any, source: str) -> Headline | None:
    """Build a headline from one feedparser entry, or None when it has no title."""
    title = clean_text(entry.get("title") or "", TITLE_MAX_LENGTH)
    if not title:
        return None

    raw_link = (entry.get("link") or "").strip()
    link = normalise_link(raw_link) if _looks_like_web_address(raw_link) else None
    guid = entry.get("id") or None
    summary = clean_text(entry.get("summary") or "", SUMMARY_MAX_LENGTH)

    return Headline(
        key=headline_key(guid, link, title),
        title=title,
        link=link,
        source=source,
        published_at=_entry_date(entry),
        summary=summary,
    )


def _entry_date(entry: Any) -> datetime | None:
    """Give the entry's published date, else its updated date, as aware UTC, else None."""
    for name in ("published_parsed", "updated_parsed"):
        # dict.get skips feedparser's deprecated mapping of updated to published.
        moment = dict.get(entry, name)
        if not isinstance(moment, struct_time):
            continue
        try:
            return datetime(*moment[:6], tzinfo=UTC)
        except (ValueError, OverflowError):
            continue
    return None
