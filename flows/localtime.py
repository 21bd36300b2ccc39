"""Local wall-clock times ↔ instants, with daylight-saving changes resolved one fixed way.

The protocol speaks in local clock times ("18:00", "not after 21:00") but the
outbox stores instants (UTC). Twice a year a local time does not exist (the
spring-forward gap) or exists twice (the fall-back hour). Both cases are
resolved deterministically here, in one place, so that every schedule agrees:

- **Gap** (e.g. 02:30 on 8 March 2026 in America/New_York): the time is read
  with the offset in force *before* the jump, which lands the same number of
  minutes after the jump — 02:30 becomes 03:30 EDT. The message is not
  dropped and not moved to the previous day; it goes out one gap-length late.
- **Fold** (e.g. 01:30 on 1 November 2026 in America/New_York): the *first*
  occurrence (still daylight time, 01:30 EDT) is used — a reminder never goes
  out twice, and never an hour later than the patient expects.

Both are what Python gives for `fold=0` (PEP 495); these functions make the
choice explicit and tested rather than incidental.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def require_aware(name: str, when: datetime) -> None:
    """Refuse naive datetimes: a naive time in a scheduler is a bug waiting for DST."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {when!r}")


def to_local(when: datetime, tz: ZoneInfo) -> datetime:
    require_aware("when", when)
    return when.astimezone(tz)


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The instant (UTC) of local clock time `at` on local date `day`, per the module rules."""
    naive = datetime.combine(day, at.replace(tzinfo=None, fold=0))
    return naive.replace(tzinfo=tz).astimezone(UTC)


def exists_locally(day: date, at: time, tz: ZoneInfo) -> bool:
    """False when `at` falls in a spring-forward gap on `day`."""
    instant = local_instant(day, at, tz)
    back = instant.astimezone(tz)
    return (back.date(), back.time()) == (day, at.replace(tzinfo=None, fold=0))


def is_ambiguous(day: date, at: time, tz: ZoneInfo) -> bool:
    """True when `at` occurs twice on `day` (the fall-back hour)."""
    naive = datetime.combine(day, at.replace(tzinfo=None))
    first = naive.replace(tzinfo=tz, fold=0).utcoffset()
    second = naive.replace(tzinfo=tz, fold=1).utcoffset()
    return first != second and exists_locally(day, at, tz)


def next_local_time(after: datetime, at: time, tz: ZoneInfo) -> datetime:
    """The first instant strictly after `after` at which the local clock reads `at` (UTC).

    Used for "the same evening" expiry. Looks at `after`'s local date, then the next.
    """
    local = to_local(after, tz)
    for offset in range(3):
        candidate = local_instant(local.date() + timedelta(days=offset), at, tz)
        if candidate > after:
            return candidate
    raise AssertionError("unreachable: a local time recurs within two days")  # pragma: no cover
