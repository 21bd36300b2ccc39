"""The planner: when each message of the protocol falls due.

Pure: it takes the protocol, the relevant instants, the clinic's time zone and
`now`, and returns instants in UTC; it never reads the clock. Offsets from a
session are elapsed time; everything said in clock time (windows, "not after
21:00", quiet hours, reminder times) is computed on the local wall clock with
zoneinfo, with gaps and folds resolved as flows.localtime documents.

The caller (care/scheduler) writes what this returns into the outbox; nothing
here holds a schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flows.localtime import local_instant, next_local_time, require_aware, to_local
from flows.protocol import AfterSession, CheckinDef, CourseWeekly, OnWeekday, Protocol

__all__ = [
    "SKIP_EXPIRED",
    "SKIP_TOO_LATE_IN_DAY",
    "PlannedCheckin",
    "defer_for_quiet_hours",
    "expires_at",
    "held_by_quiet_hours",
    "in_quiet_hours",
    "is_exercise_day",
    "is_too_late",
    "next_exercise_reminder",
    "next_weekday_checkin",
    "next_weekly_checkin",
    "nudge_at",
    "plan_session_checkins",
]

#: The session ended too late in the day for a "not after" check-in (the 3 h one).
SKIP_TOO_LATE_IN_DAY = "too_late_in_day"
#: It would only be due after it stops being useful (planned late, e.g. the session
#: was recorded the next day, or it would wait out the quiet hours past its expiry).
SKIP_EXPIRED = "expired"


@dataclass(frozen=True)
class PlannedCheckin:
    """One check-in of a session, planned.

    All instants are UTC. skip_reason is set (and the check-in must be
    recorded as not sent, with that reason) when planning already shows it
    cannot be useful. expires_at counts from the time the protocol scheduled
    it, before any quiet-hours deferral or late planning. conditional: its
    condition must be evaluated with engine.checkin_applies when it falls due
    (the 72 h check-in). nudge_at: the
    one reminder if unanswered, None when it would come too late; nudge_after
    is kept so a late send can recompute it with `nudge_at`.
    """

    key: str
    due_at: datetime
    expires_at: datetime
    nudge_at: datetime | None
    nudge_after: timedelta | None
    conditional: bool
    superseded_by_new_session: bool
    skip_reason: str | None = None

    @property
    def skipped(self) -> bool:
        return self.skip_reason is not None


# -- quiet hours and expiry -------------------------------------------------------------


def in_quiet_hours(protocol: Protocol, when: datetime, tz: ZoneInfo) -> bool:
    return protocol.quiet_hours.contains(to_local(when, tz).time())


def held_by_quiet_hours(
    protocol: Protocol, *, due_at: datetime, now: datetime, tz: ZoneInfo
) -> bool:
    """Whether a routine message due at `due_at`, reached at `now`, must wait for the end of
    quiet hours.

    Decided against the due time, not the moment the dispatcher reached it (clinical.md,
    "Decisions on the edge cases"): a message due outside quiet hours — the 3 h check-in
    due at exactly 21:00 included, the boundary being open — is still sent when reached a
    little late inside them (a slow pass, a restart, scaled time), up to the protocol's
    `late_grace` after they began. Its expiry is the caller's separate check. A message
    due inside quiet hours, or reached long after they began (the bot was down all
    evening), waits for their end.
    """
    require_aware("due_at", due_at)
    require_aware("now", now)
    if not in_quiet_hours(protocol, now, tz):
        return False
    if in_quiet_hours(protocol, due_at, tz):
        return True
    return now - _quiet_began(protocol, now, tz) > protocol.quiet_hours.late_grace


def _quiet_began(protocol: Protocol, when: datetime, tz: ZoneInfo) -> datetime:
    """When the quiet period containing `when` began (UTC); `when` must be inside one."""
    local = to_local(when, tz)
    quiet = protocol.quiet_hours
    day = local.date()
    if quiet.start > quiet.end and local.time() < quiet.end:
        day -= timedelta(days=1)  # the morning part of an overnight quiet period
    return local_instant(day, quiet.start, tz)


def defer_for_quiet_hours(protocol: Protocol, when: datetime, tz: ZoneInfo) -> datetime:
    """Move a routine message inside quiet hours to their end (UTC); otherwise unchanged.

    22:30 → 08:00 next morning; 03:00 → 08:00 the same morning. Urgent
    messages never come through here.
    """
    local = to_local(when, tz)
    quiet = protocol.quiet_hours
    if not quiet.contains(local.time()):
        return when.astimezone(UTC)
    day = local.date()
    if quiet.start > quiet.end and local.time() > quiet.start:
        day += timedelta(days=1)  # the evening part of an overnight quiet period
    return local_instant(day, quiet.end, tz)


def expires_at(checkin: CheckinDef, *, due_at: datetime, tz: ZoneInfo) -> datetime:
    """When the check-in stops being useful: the earlier of its expiry rules (UTC)."""
    require_aware("due_at", due_at)
    candidates: list[datetime] = []
    if checkin.expiry.after is not None:
        candidates.append((due_at + checkin.expiry.after).astimezone(UTC))
    if checkin.expiry.at_local is not None:
        candidates.append(next_local_time(due_at, checkin.expiry.at_local, tz))
    return min(candidates)


def is_too_late(planned: PlannedCheckin, now: datetime) -> bool:
    """Whether a check-in not yet sent should be marked expired instead of sent late."""
    require_aware("now", now)
    return planned.skipped or now >= planned.expires_at


def nudge_at(
    protocol: Protocol,
    checkin: CheckinDef,
    *,
    sent_at: datetime,
    expires_at: datetime,
    tz: ZoneInfo,
) -> datetime | None:
    """The one reminder after `sent_at`, kept out of quiet hours; None if it would be too late.

    Computed from the actual send time, so a check-in sent late gets its
    reminder late too, or not at all.
    """
    if checkin.nudge_after is None:
        return None
    when = sent_at + checkin.nudge_after
    if checkin.routine:
        when = defer_for_quiet_hours(protocol, when, tz)
    when = when.astimezone(UTC)
    return when if when < expires_at else None


# -- session check-ins -------------------------------------------------------------------


def plan_session_checkins(
    protocol: Protocol, *, session_end: datetime, tz: ZoneInfo, now: datetime
) -> list[PlannedCheckin]:
    """Every after-session check-in of the protocol for a session that ended at `session_end`.

    Conditional check-ins (72 h) are planned like the others; whether they are
    sent is decided at send time. A check-in planned after it was due is due
    `now` if still useful, else returned with skip_reason SKIP_EXPIRED.
    """
    require_aware("session_end", session_end)
    require_aware("now", now)
    planned: list[PlannedCheckin] = []
    for checkin in protocol.session_checkins():
        assert isinstance(checkin.schedule, AfterSession)
        scheduled, skip = _session_due(checkin.schedule, session_end, tz)
        # Usefulness is anchored to the scheduled time: "the same evening" is the
        # evening it was meant for, not the evening after a quiet-hours deferral.
        expiry = expires_at(checkin, due_at=scheduled, tz=tz)
        due = scheduled
        if skip is None:
            due = max(due, now.astimezone(UTC))
            # planned a little late (the session recorded just after 21:00): the due time
            # decides, as it does for the dispatcher
            if checkin.routine and held_by_quiet_hours(protocol, due_at=scheduled, now=due, tz=tz):
                due = defer_for_quiet_hours(protocol, due, tz)
        if skip is None and due >= expiry:
            skip = SKIP_EXPIRED
        planned.append(
            PlannedCheckin(
                key=checkin.key,
                due_at=due,
                expires_at=expiry,
                nudge_at=None
                if skip
                else nudge_at(protocol, checkin, sent_at=due, expires_at=expiry, tz=tz),
                nudge_after=checkin.nudge_after,
                conditional=checkin.conditional,
                superseded_by_new_session=checkin.superseded_by_new_session,
                skip_reason=skip,
            )
        )
    return planned


def _session_due(
    rule: AfterSession, session_end: datetime, tz: ZoneInfo
) -> tuple[datetime, str | None]:
    """The due instant (UTC) of one after-session check-in, before quiet hours and `now`."""
    t0 = session_end.astimezone(UTC)
    t0_local = to_local(session_end, tz)
    offset = rule.offset
    if (
        rule.evening_from is not None
        and rule.evening_offset is not None
        and t0_local.time() >= rule.evening_from
    ):
        offset = rule.evening_offset
    due = t0 + offset
    if rule.window is not None:
        # A window is a wall-clock rule, so its day is found on the wall clock: on a 25-hour
        # day (DST ends) T0 00:30 + 24 h elapsed is 23:30 the same date, not "the next morning".
        wall = t0_local.replace(tzinfo=None) + offset
        due = _into_window(local_instant(wall.date(), wall.time(), tz), rule.window, tz)
    if rule.not_after is not None:
        limit = local_instant(t0_local.date(), rule.not_after, tz)
        if due > limit:
            if limit - t0 < rule.min_offset:
                return due, SKIP_TOO_LATE_IN_DAY
            due = limit
    return due, None


def _into_window(when: datetime, window: tuple[time, time], tz: ZoneInfo) -> datetime:
    """Clamp `when` into [start, end] of local time on the local date it falls on."""
    local = to_local(when, tz)
    start, end = window
    if local.time() < start:
        return local_instant(local.date(), start, tz)
    if local.time() > end:
        return local_instant(local.date(), end, tz)
    return when.astimezone(UTC)


# -- weekly check-ins ----------------------------------------------------------------------


def next_weekly_checkin(
    protocol: Protocol,
    *,
    course_start: datetime,
    after: datetime,
    tz: ZoneInfo,
    next_session: datetime | None = None,
    key: str | None = None,
) -> datetime:
    """The next course-weekly check-in (UTC), strictly after `after`.

    `after` is the due time of the previous weekly check-in, or the course
    start when there has been none. Week k (k ≥ 1) covers course days
    7(k−1)+1 … 7k; its check-in is on day 7k at the protocol's time, or — when
    `next_session` is known and the day before it falls in that week — on that
    day instead. A candidate less than min_days_between days after `after`
    is passed over (the week then falls back to day 7k, if that is far enough),
    so moving a check-in never yields two within a few days.
    """
    require_aware("course_start", course_start)
    require_aware("after", after)
    checkin = _pick(protocol, CourseWeekly, key)
    rule = checkin.schedule
    assert isinstance(rule, CourseWeekly)
    start_day = to_local(course_start, tz).date()
    before_session: int | None = None
    if next_session is not None and rule.day_before_next_session:
        require_aware("next_session", next_session)
        before_session = (to_local(next_session, tz).date() - start_day).days - 1
    earliest = after + timedelta(days=rule.min_days_between)
    elapsed = (to_local(after, tz).date() - start_day).days
    first_week = max(1, elapsed // rule.every_days)
    for week in range(first_week, first_week + 4):
        last_day = week * rule.every_days
        days = [last_day]
        if before_session is not None and last_day - rule.every_days < before_session < last_day:
            days.insert(0, before_session)
        for day in days:
            candidate = local_instant(start_day + timedelta(days=day), rule.at, tz)
            if candidate > after and candidate >= earliest:
                return candidate
    raise AssertionError("unreachable: min_days_between < every_days")  # pragma: no cover


def next_weekday_checkin(
    protocol: Protocol,
    *,
    course_start: date,
    after: datetime,
    tz: ZoneInfo,
    reminder_time: time,
    key: str | None = None,
) -> datetime:
    """The next weekday check-in (the Sunday adherence question), strictly after `after` (UTC).

    On the protocol's weekday, on dates after the course's first day, at the
    protocol's time or — when it says "reminder_time" — the patient's
    exercise reminder time (not deferred by quiet hours: the patient chose it).
    """
    require_aware("after", after)
    checkin = _pick(protocol, OnWeekday, key)
    rule = checkin.schedule
    assert isinstance(rule, OnWeekday)
    at = rule.at if rule.at is not None else reminder_time
    day = max(course_start + timedelta(days=1), to_local(after, tz).date() - timedelta(days=1))
    day += timedelta(days=(rule.weekday - day.weekday()) % 7)
    while True:
        candidate = local_instant(day, at, tz)
        if candidate > after:
            return candidate
        day += timedelta(days=7)


def _pick(
    protocol: Protocol, kind: type[CourseWeekly] | type[OnWeekday], key: str | None
) -> CheckinDef:
    if key is not None:
        checkin = protocol.checkin(key)
        if not isinstance(checkin.schedule, kind):
            raise ValueError(f"check-in {key!r} is not a {kind.__name__} check-in")
        return checkin
    found = protocol.checkins_of(kind)
    if not found:
        raise LookupError(f"the protocol has no {kind.__name__} check-in")
    return found[0]


# -- exercise reminders ------------------------------------------------------------------


def is_exercise_day(protocol: Protocol, *, course_start: date, day: date) -> bool:
    """Whether `day` gets an exercise reminder: daily for the first weeks, then set weekdays.

    Day 0 is the course's first session day (its reminder says: walking and
    gentle movement only). Weeks 1–4 are days 0–27.
    """
    plan = protocol.exercise_plan
    elapsed = (day - course_start).days
    if elapsed < 0:
        return False
    if elapsed < 7 * plan.daily_weeks:
        return True
    return day.weekday() in plan.later_days


def next_exercise_reminder(
    protocol: Protocol,
    *,
    course_start: date,
    after: datetime,
    tz: ZoneInfo,
    reminder_time: time,
) -> datetime:
    """The next exercise reminder (UTC) strictly after `after`, rolling one at a time.

    At the patient's local `reminder_time` on the next exercise day. Not
    deferred by quiet hours: the patient picked the time. A time in the
    spring-forward gap goes out one gap-length later (02:30 → 03:30); a time in
    the fall-back hour goes out at its first occurrence.
    """
    require_aware("after", after)
    day = max(course_start, to_local(after, tz).date() - timedelta(days=1))
    for _ in range(400):
        if is_exercise_day(protocol, course_start=course_start, day=day):
            candidate = local_instant(day, reminder_time, tz)
            if candidate > after:
                return candidate
        day += timedelta(days=1)
    raise ValueError("the exercise plan has no reminder days")  # pragma: no cover
