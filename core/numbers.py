"""Numbers written the way each language writes them: ``$104,136`` or ``104 136 $``."""

from __future__ import annotations

from core.languages import FRENCH, resolve_language

# French groups thousands with a narrow no-break space and puts units after a no-break
# space, so that a number never breaks across lines.
NO_BREAK = "\u00a0"
NARROW_NO_BREAK = "\u202f"


def format_usd(value: float, language: str) -> str:
    """Format a price in whole dollars: ``$104,136`` in English, ``104 136 $`` in French.

    French uses a narrow no-break space between thousands and a no-break space before the
    sign, so that a price never breaks across lines.
    """
    grouped = f"{round(value):,}"
    if resolve_language(language) == FRENCH:
        return f"{grouped.replace(',', NARROW_NO_BREAK)}{NO_BREAK}$"
    return f"${grouped}"


def format_pct(value: float, language: str, *, signed: bool = True) -> str:
    """Format a percentage with one decimal: ``+1.5%`` in English, ``+1,5 %`` in French.

    From 100 % on, whole numbers with thousands separators are shown (``+40,003%``).
    """
    sign = "+" if signed else ""
    text = f"{value:{sign},.0f}" if abs(value) >= 100 else f"{value:{sign}.1f}"
    if resolve_language(language) == FRENCH:
        french = text.replace(",", NARROW_NO_BREAK).replace(".", ",")
        return f"{french}{NO_BREAK}%"
    return f"{text}%"
