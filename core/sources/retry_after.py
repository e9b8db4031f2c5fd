"""Reading the waits that servers ask for, in the forms HTTP allows."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Turn a ``Retry-After`` header into the seconds to wait from ``now``.

    HTTP allows a number of seconds (``120``) or a date (``Wed, 21 Oct 2015 07:28:00 GMT``).
    A date in the past gives 0.

    Args:
        value: The header's value, or None when the header is absent.
        now: The present time, timezone-aware.

    Returns:
        The seconds to wait, never negative, or None when the header is absent or unreadable.
    """
    if value is None or not value.strip():
        return None

    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until_date(text, now)

    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def _seconds_until_date(text: str, now: datetime) -> float | None:
    """Give the seconds from ``now`` until an HTTP date, or None when it is not one."""
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - now).total_seconds(), 0.0)
