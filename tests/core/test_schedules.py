"""The digest's time of day in its zone, read the same way whatever the host's zone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from datetime import time as clock_time
from zoneinfo import ZoneInfo

import pytest

from core.schedules import DailySchedule

BERLIN_NINE = DailySchedule(clock_time(9, 0), ZoneInfo("Europe/Berlin"))
PARIS_HALF_TWO = DailySchedule(clock_time(2, 30), ZoneInfo("Europe/Paris"))


@pytest.fixture(params=["UTC", "America/New_York", "Asia/Tokyo"])
def host_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the test on a host whose own zone is UTC, New York or Tokyo."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_nine_in_berlin_is_eight_utc_in_winter_and_seven_in_summer(host_zone: str) -> None:
    assert BERLIN_NINE.next_after(at("2026-01-14T12:00")) == at("2026-01-15T08:00")
    assert BERLIN_NINE.next_after(at("2026-01-15T07:59")) == at("2026-01-15T08:00")
    assert BERLIN_NINE.next_after(at("2026-07-14T12:00")) == at("2026-07-15T07:00")
    assert BERLIN_NINE.next_after(at("2026-07-15T06:30")) == at("2026-07-15T07:00")


def test_the_next_run_is_strictly_after_the_moment() -> None:
    assert BERLIN_NINE.next_after(at("2026-01-15T08:00")) == at("2026-01-16T08:00")


def test_due_from_the_time_of_day_until_local_midnight() -> None:
    assert BERLIN_NINE.is_due(at("2026-01-15T07:59")) is False
    assert BERLIN_NINE.is_due(at("2026-01-15T08:00")) is True
    # 23:30 UTC is already the 16th in Berlin, before that day's nine o'clock.
    assert BERLIN_NINE.local_date(at("2026-01-15T23:30")) == date(2026, 1, 16)
    assert BERLIN_NINE.is_due(at("2026-01-15T23:30")) is False


def test_a_time_skipped_by_summer_time_is_read_with_the_winter_offset() -> None:
    # 02:30 does not exist in Paris on 29 March 2026: the clocks jump from 02:00 to 03:00.
    assert PARIS_HALF_TWO.instant_on(date(2026, 3, 29)) == at("2026-03-29T01:30")


def test_a_time_that_happens_twice_is_taken_the_first_time() -> None:
    # 02:30 happens twice in Paris on 25 October 2026: at 00:30 and at 01:30 UTC.
    assert PARIS_HALF_TWO.instant_on(date(2026, 10, 25)) == at("2026-10-25T00:30")
    assert PARIS_HALF_TWO.local_date(at("2026-10-25T01:30")) == date(2026, 10, 25)
    assert PARIS_HALF_TWO.next_after(at("2026-10-25T00:30")) == at("2026-10-26T01:30")


def test_naive_moments_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        BERLIN_NINE.next_after(datetime(2026, 1, 15, 8, 0))


def test_the_aware_time_carries_the_zone_for_the_job_queue() -> None:
    assert BERLIN_NINE.aware_time == clock_time(9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert BERLIN_NINE.zone_name == "Europe/Berlin"
