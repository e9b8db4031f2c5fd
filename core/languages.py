"""The languages the analysts answer in, and how a user's language code maps onto them."""

from __future__ import annotations

from typing import Final

FRENCH: Final = "fr"
ENGLISH: Final = "en"
SUPPORTED: Final = (FRENCH, ENGLISH)
DEFAULT: Final = ENGLISH

LANGUAGE_NAMES: Final = {FRENCH: "French (français)", ENGLISH: "English"}


def resolve_language(code: str | None) -> str:
    """Map a language code such as Telegram's ``fr-CA`` or ``en`` onto ``fr`` or ``en``.

    Args:
        code: An IETF-like code (``fr``, ``fr-FR``, ``fr_BE``, ``EN``...), or None.

    Returns:
        ``fr`` for any French code, otherwise ``en`` (the default for everyone else).
    """
    if not code:
        return DEFAULT
    primary = code.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in SUPPORTED else DEFAULT
