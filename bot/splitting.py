"""Long replies cut into messages that Telegram accepts, on line boundaries."""

from __future__ import annotations

import re

# Telegram refuses a text over 4,096 characters, counted in UTF-16 code units after the
# entities are parsed; we count the marked-up text, which is never shorter, to be safe.
TELEGRAM_TEXT_LIMIT = 4096

_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^>]*>")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_ENTITY_MAX_CHARS = 34


def utf16_length(value: str) -> int:
    """The length Telegram counts: UTF-16 code units (an emoji counts two)."""
    return len(value.encode("utf-16-le")) // 2


def split_message(value: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Cut a reply into parts of at most ``limit`` UTF-16 units, between lines.

    Lines are kept together while a tag opened on one of them is still open, so a cut never
    splits an entity. A block of lines longer than the limit on its own loses its tags and is
    cut between lines, else between words, else anywhere but inside an HTML character
    reference (``&amp;``), so no part is ever refused.
    """
    if utf16_length(value) <= limit:
        return [value]

    parts: list[str] = []
    current = ""
    for block in _blocks(value):
        for piece in _fit_block(block, limit):
            candidate = f"{current}\n{piece}" if current else piece
            if utf16_length(candidate) <= limit:
                current = candidate
                continue
            if current.strip():
                parts.append(current.strip("\n"))
            current = piece
    if current.strip():
        parts.append(current.strip("\n"))
    return parts


def _blocks(value: str) -> list[str]:
    """The text's lines, those inside a tag that spans several lines joined into one block."""
    blocks: list[str] = []
    pending: list[str] = []
    depth = 0
    for line in value.split("\n"):
        pending.append(line)
        for tag in _TAG.finditer(line):
            depth += -1 if tag.group(1) else 1
        if depth <= 0:
            blocks.append("\n".join(pending))
            pending, depth = [], 0
    if pending:
        blocks.append("\n".join(pending))
    return blocks


def _fit_block(block: str, limit: int) -> list[str]:
    """One block, or the plain-text pieces of a block too long to send whole."""
    if utf16_length(block) <= limit:
        return [block]

    plain = _TAG.sub("", block)
    pieces: list[str] = []
    while utf16_length(plain) > limit:
        fits = _last_fitting_index(plain, limit)
        cut = max(plain.rfind("\n", 0, fits), plain.rfind(" ", 0, fits))
        if cut <= fits // 2:
            cut = _outside_entity(plain, fits)
        pieces.append(plain[:cut].rstrip())
        plain = plain[cut:].lstrip()
    pieces.append(plain)
    return pieces


def _outside_entity(value: str, cut: int) -> int:
    """Move a cut back to the start of an HTML entity (``&amp;``) it would fall inside."""
    start = max(0, cut - _ENTITY_MAX_CHARS)
    for entity in _ENTITY.finditer(value, start, cut + _ENTITY_MAX_CHARS):
        if entity.start() < cut < entity.end() and entity.start() > 0:
            return entity.start()
    return cut


def _last_fitting_index(value: str, limit: int) -> int:
    """The largest index whose prefix fits in ``limit`` UTF-16 units."""
    units = 0
    for index, character in enumerate(value):
        units += 2 if ord(character) > 0xFFFF else 1
        if units > limit:
            return index
    return len(value)
