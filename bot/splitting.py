"""Long replies cut into messages that Telegram accepts, on line boundaries."""

from __future__ import annotations

import re

# Telegram refuses a text over 4,096 characters, counted in UTF-16 code units after the
# entities are parsed; we count the marked-up text, which is never shorter, to be safe.
TELEGRAM_TEXT_LIMIT = 4096

_TAG = re.compile(r"<[^>]+>")


def utf16_length(value: str) -> int:
    """The length Telegram counts: UTF-16 code units (an emoji counts two)."""
    return len(value.encode("utf-16-le")) // 2


def split_message(value: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Cut a reply into parts of at most ``limit`` UTF-16 units, between lines.

    Our replies open and close every tag on the same line, so a cut between lines never
    splits an entity. A single line longer than the limit loses its tags and is cut between
    words (or, failing that, anywhere), so no part is ever refused.
    """
    if utf16_length(value) <= limit:
        return [value]

    parts: list[str] = []
    current = ""
    for line in value.split("\n"):
        for piece in _fit_line(line, limit):
            candidate = f"{current}\n{piece}" if current else piece
            if utf16_length(candidate) <= limit:
                current = candidate
                continue
            if current.strip():
                parts.append(current)
            current = piece
    if current.strip():
        parts.append(current)
    return parts


def _fit_line(line: str, limit: int) -> list[str]:
    """One line, or the pieces of a line too long to send whole."""
    if utf16_length(line) <= limit:
        return [line]

    plain = _TAG.sub("", line)
    pieces: list[str] = []
    while utf16_length(plain) > limit:
        cut = _last_fitting_index(plain, limit)
        space = plain.rfind(" ", 0, cut)
        cut = space if space > cut // 2 else cut
        pieces.append(plain[:cut].rstrip())
        plain = plain[cut:].lstrip()
    pieces.append(plain)
    return pieces


def _last_fitting_index(value: str, limit: int) -> int:
    """The largest index whose prefix fits in ``limit`` UTF-16 units."""
    units = 0
    for index, character in enumerate(value):
        units += 2 if ord(character) > 0xFFFF else 1
        if units > limit:
            return index
    return len(value)
