"""Time windows a user may ask about ("6h", "7d", "1y"), read from free text and bounded.

What :func:`parse_window` accepts:

* A whole number, then a unit, with at most one space between: ``6h``, ``7d``, ``2w``,
  ``1y``, ``7 jours``, ``1 an``, ``3 mois``. Case does not matter and surrounding space is
  ignored. No text at all (None, empty, only spaces) means the default window.
* Units, in English and French: hours (``h``, ``hr``, ``hour(s)``, ``heure(s)``), days
  (``d``, ``day(s)``, ``j``, ``jour(s)``), weeks (``w``, ``wk``, ``week(s)``, ``sem``,
  ``semaine(s)``; counted as 7 days), months (``mo``, ``month(s)``, ``mois``; counted as
  30 days) and years (``y``, ``yr``, ``year(s)``, ``a``, ``an``, ``ans``, ``année(s)``;
  counted as 365 days). ``m`` is refused: minute or month would be a guess.
* Full-width digits and letters, as Japanese and Chinese input methods type them
  (``７ｄ``), are folded to their ASCII forms; every other non-ASCII digit (Arabic-Indic,
  superscripts...) is refused, so that what the user sees is what we read.

The normalised label keeps hours as hours, days as days and years as years; weeks and
months become days (``2w`` is ``14d``, ``3 mois`` is ``90d``).

Range: from 3 hours (:data:`MIN_HOURS`: the fewest hourly candles a trend needs) to 10
years (:data:`MAX_HOURS`: the embedded daily history starts in November 2014). A value
outside is clamped to the nearest bound, never refused, and the window remembers what was
asked (``clamped_from``). Windows up to 30 days (:data:`HOURLY_MAX_HOURS`) use hourly
candles; longer ones use daily candles.

Every refusal is an :class:`~core.errors.InputError` whose ``code`` says why and whose
``params["text"]`` holds the offending text, stripped of control and bidi characters and
cut to :data:`ECHO_CHARS`, ready to echo once escaped:

==========================  =====================================================
code                        meaning
==========================  =====================================================
``window_too_long``         more than :data:`MAX_INPUT_CHARS` characters
``window_characters``       control, format (bidi, zero-width) or unassigned chars
``window_several``          more than one window, or extra words
``window_not_positive``     zero or negative
``window_unit``             a number with no unit or an unknown unit
``window_format``           anything else (letters only, decimals, Markdown...)
==========================  =====================================================
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from core.candles import Interval
from core.errors import InputError

MIN_HOURS = 3
MAX_HOURS = 10 * 365 * 24
HOURLY_MAX_HOURS = 30 * 24
MAX_INPUT_CHARS = 32
ECHO_CHARS = 32

_HOURS_PER_UNIT = {"h": 1, "d": 24, "y": 365 * 24}

# Each accepted spelling, with the unit its label uses and how many of those one counts for.
_UNITS: dict[str, tuple[str, int]] = {
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours", "heure", "heures"), ("h", 1)),
    **dict.fromkeys(("d", "day", "days", "j", "jour", "jours"), ("d", 1)),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks", "sem", "semaine", "semaines"), ("d", 7)),
    **dict.fromkeys(("mo", "month", "months", "mois"), ("d", 30)),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years", "a", "an", "ans"), ("y", 1)),
    **dict.fromkeys(("année", "années", "annee", "annees"), ("y", 1)),
}

_WINDOW = re.compile(r"([0-9]+) ?([a-zé]+)", re.ASCII)
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_NEGATIVE = re.compile(r"[-−‐‑–—]")

# Full-width ASCII variants (U+FF01..U+FF5E) and the ideographic space, folded to ASCII.
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}

# A string far longer than any window is refused before anything walks through it.
_RAW_LIMIT = 4 * MAX_INPUT_CHARS


@dataclass(frozen=True, slots=True)
class Window:
    """A span of time ending now, as a count of hours, days or years.

    Attributes:
        amount: How many units, at least 1.
        unit: ``h``, ``d`` or ``y``.
        clamped_from: The label the user asked for when it fell outside the allowed range
            and this window is the nearest bound; None when it was taken as asked.
    """

    amount: int
    unit: str
    clamped_from: str | None = None

    @property
    def label(self) -> str:
        """The normalised label, such as ``24h``, ``7d`` or ``1y``."""
        return f"{self.amount}{self.unit}"

    @property
    def hours(self) -> int:
        """The length of the window in hours."""
        return self.amount * _HOURS_PER_UNIT[self.unit]

    @property
    def duration(self) -> timedelta:
        """The length of the window."""
        return timedelta(hours=self.hours)

    @property
    def interval(self) -> Interval:
        """Hourly candles up to 30 days, daily candles beyond."""
        return Interval.HOUR if self.hours <= HOURLY_MAX_HOURS else Interval.DAY

    @property
    def candle_count(self) -> int:
        """How many whole candles of :attr:`interval` the window spans."""
        return self.duration // self.interval.length

    @property
    def clamped(self) -> bool:
        """Whether the user asked for a window outside the allowed range."""
        return self.clamped_from is not None

    def __str__(self) -> str:
        return self.label


def parse_window(text: str | None, default: str = "24h") -> Window:
    """Read a window such as ``7d`` or ``1 an`` from what a user typed.

    Args:
        text: The user's argument; None or blank means ``default``.
        default: The window used when the user gave none.

    Returns:
        The window, clamped into the allowed range when it fell outside.

    Raises:
        InputError: The text is not one window; see the module docstring for the codes.
            Nothing else is ever raised.
    """
    if text is None:
        return parse_window(default, default)
    if not isinstance(text, str):
        raise InputError("window is not text", code="window_format", params={"text": ""})
    if len(text) > _RAW_LIMIT:
        raise _refusal("window_too_long", text)

    stripped = text.strip()
    if not stripped:
        return parse_window(default, default)
    if len(stripped) > MAX_INPUT_CHARS:
        raise _refusal("window_too_long", stripped)
    if any(unicodedata.category(char)[0] == "C" for char in stripped):
        raise _refusal("window_characters", stripped)

    folded = unicodedata.normalize("NFC", stripped.translate(_FULL_WIDTH)).lower()
    if _NEGATIVE.match(folded):
        raise _refusal("window_not_positive", stripped)
    words = folded.split()
    if len(words) > 2 or (len(words) == 2 and not _DIGITS.fullmatch(words[0])):
        raise _refusal("window_several", stripped)

    match = _WINDOW.fullmatch(" ".join(words))
    if match is None:
        code = "window_unit" if _DIGITS.fullmatch(folded) else "window_format"
        raise _refusal(code, stripped)

    number, spelling = match.groups()
    if spelling not in _UNITS:
        raise _refusal("window_unit", stripped)
    unit, factor = _UNITS[spelling]
    amount = int(number) * factor
    if amount == 0:
        raise _refusal("window_not_positive", stripped)

    return _bounded(Window(amount, unit))


def _bounded(window: Window) -> Window:
    """Clamp a window into [MIN_HOURS, MAX_HOURS], remembering what was asked."""
    asked = window.label[:ECHO_CHARS]
    if window.hours < MIN_HOURS:
        return Window(MIN_HOURS, "h", clamped_from=asked)
    if window.hours > MAX_HOURS:
        return Window(MAX_HOURS // _HOURS_PER_UNIT["y"], "y", clamped_from=asked)
    return window


def _refusal(code: str, text: str) -> InputError:
    """Build the InputError for ``code``, carrying a short, printable copy of ``text``."""
    printable = "".join(char for char in text[: 4 * ECHO_CHARS] if _is_printable(char))
    echo = printable[:ECHO_CHARS]
    return InputError(f"cannot read a time window ({code})", code=code, params={"text": echo})


def _is_printable(char: str) -> bool:
    """Whether a character may be shown back: no control, bidi, private or unassigned."""
    return unicodedata.category(char)[0] != "C"
