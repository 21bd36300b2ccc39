"""Opening hours: when the clinic reads its alerts, and time counted in them.

Pure: local dates and times in, instants out (zoneinfo does the offsets). A callback is
due "within 2 h in opening hours": a callback alert raised at 19:00 on a Friday of a clinic
open Mon–Fri 08:00–20:00 has one opening hour left that day and is due on Monday at 09:00.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class OpeningHours:
    """Open on `days` (0 = Monday) from `start` to `end` local time, [start, end)."""

    days: tuple[int, ...]
    start: time
    end: time

    def _span(self, day: date, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
        if day.weekday() not in self.days:
            return None
        return (
            datetime.combine(day, self.start, tzinfo=tz),
            datetime.combine(day, self.end, tzinfo=tz),
        )

    def is_open(self, at: datetime, tz: ZoneInfo) -> bool:
        span = self._span(at.astimezone(tz).date(), tz)
        return span is not None and span[0] <= at < span[1]

    def opening_of(self, day: date, tz: ZoneInfo) -> datetime | None:
        """The instant the clinic opens on `day`, or None on a closed day."""
        span = self._span(day, tz)
        return span[0] if span else None

    def next_open_moment(self, at: datetime, tz: ZoneInfo) -> datetime:
        """`at` itself when open, else the next opening."""
        day = at.astimezone(tz).date()
        for offset in range(15):
            span = self._span(day + timedelta(days=offset), tz)
            if span is None or at >= span[1]:
                continue
            return max(at, span[0])
        raise ValueError("opening hours with no open day")

    def add_open_time(self, at: datetime, duration: timedelta, tz: ZoneInfo) -> datetime:
        """The instant `duration` of opening time after `at` (closed time does not count)."""
        left = duration
        moment = self.next_open_moment(at, tz)
        for _ in range(400):
            day = moment.astimezone(tz).date()
            span = self._span(day, tz)
            assert span is not None
            if moment + left <= span[1]:
                return moment + left
            left -= span[1] - moment
            moment = self.next_open_moment(span[1], tz)
        raise ValueError("duration too long for these opening hours")
