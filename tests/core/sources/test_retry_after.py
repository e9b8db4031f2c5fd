from datetime import UTC, datetime

import pytest

from core.sources.retry_after import parse_retry_after

NOW = datetime(2024, 1, 1, 16, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("60", 60.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-5", 0.0),
        ("Mon, 01 Jan 2024 16:31:30 GMT", 90.0),
        ("Mon, 01 Jan 2024 16:00:00 GMT", 0.0),
        ("Mon, 01 Jan 2024 16:31:30", 90.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected
