"""Crypto headlines: the one shape every feed and the storage agree on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
