"""Numbers written the way each language writes them: ``$104,136`` or ``104 136 $``."""

from __future__ import annotations

# French groups thousands with a narrow no-break space and puts units after a no-break space.
NARROW_NBSP = "\u202f"
NBSP = "\u00a0"


def format_usd(value: float, language: str) -> str:
    """A dollar amount, rounded to whole dollars from 1,000 up and to cents below."""
    decimals = 0 if abs(value) >= 1000 else 2
    grouped = f"{abs(value):,.{decimals}f}"
    sign = "-" if value < 0 else ""
    if language == "fr":
        grouped = grouped.replace(",", NARROW_NBSP).replace(".", ",")
        return f"{sign}{grouped}{NBSP}$"
    return f"{sign}${grouped}"


def format_percent(value: float, language: str, *, signed: bool = False) -> str:
    """A percentage with one decimal (two below 1 %), with a sign when asked."""
    decimals = 2 if abs(value) < 1 else 1
    number = f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"
    if language == "fr":
        return number.replace(".", ",") + f"{NBSP}%"
    return number + "%"
