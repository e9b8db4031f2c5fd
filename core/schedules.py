"""A time of day in a time zone: when the daily digest is due, in UTC, whatever the host's zone.

Local dates and times follow ``zoneinfo``. A time that falls in the spring-forward gap is
read with the offset in force before the change (02:30 in Paris on the last Sunday of March
is 03:30 summer time); a time that occurs twice on the night the clocks go back is taken at
its first occurrence. The job scheduler (APScheduler's cron trigger) reads them the same way;
on the night the clocks go back it fires a second time, which the digest's claims absorb.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo


@dataclass(frozen=True, slots=True)
class DailySchedule:
    """Once a day at ``at`` (a naive local time) in ``zone``.

    Attributes:
        at: The local time of day, without a zone.
        zone: The IANA zone the time is read in.
    """

    at: time
    zone: tzinfo

    @property
    def zone_name(self) -> str:
        """The zone's IANA name, as shown to admins."""
        return str(getattr(self.zone, "key", self.zone))

    @property
    def aware_time(self) -> time:
        """The time of day carrying its zone, as PTB's ``run_daily`` wants it."""
        return self.at.replace(tzinfo=self.zone)

    def local_date(self, moment: datetime) -> date:
        """The date on the zone's calendar at ``moment`` (an aware datetime)."""
        return _aware(moment).astimezone(self.zone).date()

    def instant_on(self, day: date) -> datetime:
        """The moment, in UTC, when the local clock shows ``at`` on ``day``."""
        local = datetime.combine(day, self.at.replace(tzinfo=None), tzinfo=self.zone)
        return local.astimezone(UTC)

    def is_due(self, moment: datetime) -> bool:
        """Whether ``moment`` is at or after the time of day on its own local date."""
        return _aware(moment) >= self.instant_on(self.local_date(moment))

    def next_after(self, moment: datetime) -> datetime:
        """The first scheduled moment strictly after ``moment``, in UTC."""
        moment = _aware(moment)
        day = self.local_date(moment)
        today = self.instant_on(day)
        if today > moment:
            return today
        return self.instant_on(day + timedelta(days=1))


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given where an aware one is required")
    return moment
