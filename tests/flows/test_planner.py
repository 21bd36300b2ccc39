"""The planner with plain datetimes: local-time rules, quiet hours, DST, cadence."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.loader import load_protocol
from flows.localtime import exists_locally, is_ambiguous, local_instant
from flows.planner import (
    SKIP_EXPIRED,
    SKIP_TOO_LATE_IN_DAY,
    PlannedCheckin,
    defer_for_quiet_hours,
    expires_at,
    held_by_quiet_hours,
    in_quiet_hours,
    is_exercise_day,
    is_too_late,
    next_exercise_reminder,
    next_weekday_checkin,
    next_weekly_checkin,
    nudge_at,
    plan_session_checkins,
)
from flows.protocol import Protocol

PROTOCOL: Protocol = load_protocol()
NY = ZoneInfo("America/New_York")
ZONES = [
    NY,
    ZoneInfo("Europe/Madrid"),
    ZoneInfo("America/Sao_Paulo"),
    ZoneInfo("Australia/Lord_Howe"),  # 30-minute DST shift
    ZoneInfo("Asia/Kolkata"),
    ZoneInfo("Pacific/Chatham"),
    ZoneInfo("UTC"),
]
SIX_PM = time(18, 0)


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, tz: ZoneInfo = NY
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=tz)


def plan(t0: datetime, *, now: datetime | None = None) -> dict[str, PlannedCheckin]:
    planned = plan_session_checkins(PROTOCOL, session_end=t0, tz=NY, now=now or t0)
    return {p.key: p for p in planned}


def at_ny(when: datetime) -> tuple[int, int, int, int]:
    """(month, day, hour, minute) in New York, for readable asserts."""
    moment = when.astimezone(NY)
    return moment.month, moment.day, moment.hour, moment.minute


# -- the 3 h check-in --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t0", "due"),
    [
        ((10, 0), (6, 10, 13, 0)),  # plain T0 + 3 h
        ((17, 59), (6, 10, 20, 59)),  # + 3 h, still before 21:00
        ((18, 0), (6, 10, 19, 30)),  # from 18:00: T0 + 1.5 h
        ((18, 1), (6, 10, 19, 31)),
        ((19, 45), (6, 10, 21, 0)),  # + 1.5 h = 21:15 → moved back to 21:00 (≥ 1 h after T0)
        ((20, 0), (6, 10, 21, 0)),  # exactly 1 h before 21:00: still sent
    ],
)
def test_h3_due(t0: tuple[int, int], due: tuple[int, int, int, int]) -> None:
    h3 = plan(local(2026, 6, 10, *t0))["h3"]
    assert h3.skip_reason is None
    assert at_ny(h3.due_at) == due
    assert h3.due_at.tzinfo is UTC
    assert at_ny(h3.expires_at) == (6, 10, 22, 0)  # useless after the same evening


@pytest.mark.parametrize("t0", [(20, 1), (20, 30), (23, 0)])
def test_h3_skipped_when_21h_is_less_than_an_hour_away(t0: tuple[int, int]) -> None:
    h3 = plan(local(2026, 6, 10, *t0))["h3"]
    assert h3.skip_reason == SKIP_TOO_LATE_IN_DAY
    assert h3.nudge_at is None
    assert is_too_late(h3, local(2026, 6, 10, *t0))


def test_h3_nudge_is_one_hour_later_unless_that_is_quiet() -> None:
    assert at_ny(plan(local(2026, 6, 10, 10, 0))["h3"].nudge_at or datetime.min) == (
        6,
        10,
        14,
        0,
    )
    # Due 20:59 → nudge 21:59 falls in quiet hours → 08:00, after the 22:00 expiry → none.
    assert plan(local(2026, 6, 10, 17, 59))["h3"].nudge_at is None
    assert plan(local(2026, 6, 10, 19, 45))["h3"].nudge_at is None


# -- the 24 h, 48 h and 72 h check-ins -----------------------------------------------------


@pytest.mark.parametrize(
    ("t0", "due"),
    [
        ((10, 0), (6, 11, 10, 0)),  # inside the window: exactly 24 h
        ((9, 0), (6, 11, 9, 0)),
        ((11, 0), (6, 11, 11, 0)),
        ((7, 30), (6, 11, 9, 0)),  # before the window → 09:00 next morning
        ((16, 0), (6, 11, 11, 0)),  # after the window → 11:00 next morning
        ((19, 45), (6, 11, 11, 0)),
    ],
)
def test_h24_next_morning_window(t0: tuple[int, int], due: tuple[int, int, int, int]) -> None:
    h24 = plan(local(2026, 6, 10, *t0))["h24"]
    assert at_ny(h24.due_at) == due
    assert h24.expires_at - h24.due_at == timedelta(hours=20)
    assert h24.nudge_at is not None and h24.nudge_at - h24.due_at == timedelta(hours=3)
    assert not h24.conditional and h24.superseded_by_new_session


def test_h48_and_h72_are_elapsed_time() -> None:
    planned = plan(local(2026, 6, 10, 10, 0))
    t0 = local(2026, 6, 10, 10, 0)
    assert planned["h48"].due_at == t0 + timedelta(hours=48)
    assert planned["h72"].due_at == t0 + timedelta(hours=72)
    assert planned["h72"].conditional
    assert not planned["h48"].conditional


def test_h48_across_spring_forward_is_48_hours_not_48_clock_hours() -> None:
    t0 = local(2026, 3, 7, 10, 0)  # EST
    h48 = plan(t0)["h48"]
    assert h48.due_at - t0 == timedelta(hours=48)
    assert at_ny(h48.due_at) == (3, 9, 11, 0)  # EDT: the wall clock moved an hour


def test_h48_in_quiet_hours_waits_for_the_morning() -> None:
    h48 = plan(local(2026, 6, 10, 22, 0))["h48"]
    assert at_ny(h48.due_at) == (6, 13, 8, 0)


def test_planned_late_is_due_now_if_still_useful() -> None:
    t0 = local(2026, 6, 10, 10, 0)
    planned = plan(t0, now=local(2026, 6, 10, 15, 0))
    assert at_ny(planned["h3"].due_at) == (6, 10, 15, 0)
    assert planned["h3"].skip_reason is None
    assert at_ny(planned["h24"].due_at) == (6, 11, 10, 0)


def test_planned_too_late_is_marked_expired() -> None:
    t0 = local(2026, 6, 10, 10, 0)
    # Recorded at 22:00: the 3 h check-in is past its 22:00 expiry.
    planned = plan(t0, now=local(2026, 6, 10, 22, 0))
    assert planned["h3"].skip_reason == SKIP_EXPIRED
    # Recorded at 21:30: due at 13:00, outside quiet hours, and still useful — the due
    # time decides, so it goes now (it used to wait for 08:00 and expire).
    planned = plan(t0, now=local(2026, 6, 10, 21, 30))
    assert planned["h3"].skip_reason is None
    assert at_ny(planned["h3"].due_at) == (6, 10, 21, 30)
    # Recorded two days late: the 24 h one is gone, the 48 h one is due now.
    later = plan(t0, now=local(2026, 6, 12, 12, 0))
    assert later["h24"].skip_reason == SKIP_EXPIRED
    assert later["h48"].skip_reason is None
    assert at_ny(later["h48"].due_at) == (6, 12, 12, 0)


def test_is_too_late_and_nudge_after_a_late_send() -> None:
    h24 = plan(local(2026, 6, 10, 10, 0))["h24"]
    assert not is_too_late(h24, h24.due_at + timedelta(hours=19))
    assert is_too_late(h24, h24.expires_at)
    checkin = PROTOCOL.checkin("h24")
    sent = h24.due_at + timedelta(hours=5)  # the bot was down
    assert nudge_at(PROTOCOL, checkin, sent_at=sent, expires_at=h24.expires_at, tz=NY) == (
        sent + timedelta(hours=3)
    )
    very_late = h24.due_at + timedelta(hours=18)
    assert nudge_at(PROTOCOL, checkin, sent_at=very_late, expires_at=h24.expires_at, tz=NY) is None


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_session_checkins(
            PROTOCOL, session_end=datetime(2026, 6, 10, 10), tz=NY, now=datetime.now(UTC)
        )


# -- quiet hours -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ((6, 10, 20, 59), (6, 10, 20, 59)),
        ((6, 10, 21, 0), (6, 10, 21, 0)),  # the boundary itself is not quiet
        ((6, 10, 21, 1), (6, 11, 8, 0)),
        ((6, 10, 23, 59), (6, 11, 8, 0)),
        ((6, 11, 0, 0), (6, 11, 8, 0)),
        ((6, 11, 3, 0), (6, 11, 8, 0)),
        ((6, 11, 8, 0), (6, 11, 8, 0)),
        ((6, 11, 12, 0), (6, 11, 12, 0)),
    ],
)
def test_defer_for_quiet_hours(
    when: tuple[int, int, int, int], expected: tuple[int, int, int, int]
) -> None:
    result = defer_for_quiet_hours(PROTOCOL, local(2026, *when), NY)
    assert at_ny(result) == expected
    assert result.tzinfo is UTC


def test_defer_across_spring_forward_lands_at_8_local() -> None:
    result = defer_for_quiet_hours(PROTOCOL, local(2026, 3, 7, 23, 0), NY)
    assert result == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)  # 08:00 EDT


@given(
    tz=st.sampled_from(ZONES),
    when=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1)),
)
def test_deferred_messages_are_never_quiet_and_never_early(tz: ZoneInfo, when: datetime) -> None:
    moment = when.replace(tzinfo=tz)
    result = defer_for_quiet_hours(PROTOCOL, moment, tz)
    assert result >= moment
    assert not in_quiet_hours(PROTOCOL, result, tz)
    assert result - moment <= timedelta(hours=12)


# -- weekly check-ins ----------------------------------------------------------------------------

COURSE_START = local(2026, 1, 5, 17, 0)  # a Monday


def weekly(after: datetime, next_session: datetime | None = None) -> datetime:
    return next_weekly_checkin(
        PROTOCOL, course_start=COURSE_START, after=after, tz=NY, next_session=next_session
    )


def test_weekly_every_7_days_at_10() -> None:
    first = weekly(COURSE_START)
    assert at_ny(first) == (1, 12, 10, 0)
    second = weekly(first)
    assert at_ny(second) == (1, 19, 10, 0)
    assert first.tzinfo is UTC


def test_weekly_moves_to_the_day_before_the_next_session() -> None:
    # Sessions every Monday: the check-in comes the Sunday before each.
    first = weekly(COURSE_START, next_session=local(2026, 1, 12, 17, 0))
    assert at_ny(first) == (1, 11, 10, 0)
    # Before the Jan 12 session is recorded: day 7 is only a day later → next week.
    assert at_ny(weekly(first, next_session=local(2026, 1, 12, 17, 0))) == (1, 19, 10, 0)
    # After it, with the next session on Jan 19: the Sunday before it.
    second = weekly(first, next_session=local(2026, 1, 19, 17, 0))
    assert at_ny(second) == (1, 18, 10, 0)


def test_weekly_falls_back_when_the_moved_day_is_too_close() -> None:
    first = weekly(COURSE_START)  # Jan 12
    # Next session Jan 14: the day before (Jan 13) is a day after the last check-in.
    assert at_ny(weekly(first, next_session=local(2026, 1, 14, 17, 0))) == (1, 19, 10, 0)
    # Next session Jan 24 (week 3): week 2 keeps day 14, week 3 moves to Jan 23.
    assert at_ny(weekly(first, next_session=local(2026, 1, 24, 9, 0))) == (1, 19, 10, 0)
    second = weekly(local(2026, 1, 19, 10, 0), next_session=local(2026, 1, 24, 9, 0))
    assert at_ny(second) == (1, 23, 10, 0)


def test_weekly_ignores_a_next_session_the_next_day() -> None:
    # The day before would be the course's first day: week 1 stays on day 7.
    assert at_ny(weekly(COURSE_START, next_session=local(2026, 1, 6, 9, 0))) == (1, 12, 10, 0)


def test_weekly_across_dst_keeps_local_time() -> None:
    start = local(2026, 3, 2, 17, 0)
    first = next_weekly_checkin(PROTOCOL, course_start=start, after=start, tz=NY)
    assert first == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # 10:00 EDT


@given(
    tz=st.sampled_from(ZONES),
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 1)),
    after_days=st.floats(min_value=0, max_value=120),
    session_days=st.none() | st.floats(min_value=0.5, max_value=130),
)
def test_weekly_properties(
    tz: ZoneInfo, start: datetime, after_days: float, session_days: float | None
) -> None:
    course_start = start.replace(tzinfo=tz)
    after = course_start + timedelta(days=after_days)
    next_session = None if session_days is None else course_start + timedelta(days=session_days)
    result = next_weekly_checkin(
        PROTOCOL, course_start=course_start, after=after, tz=tz, next_session=next_session
    )
    assert result > after
    assert result >= after + timedelta(days=4)
    assert result <= after + timedelta(days=14, hours=2)
    day = (result.astimezone(tz).date() - course_start.astimezone(tz).date()).days
    assert day >= 1
    if exists_locally(result.astimezone(tz).date(), time(10), tz):
        assert result.astimezone(tz).time() == time(10)


# -- the Sunday adherence check-in ----------------------------------------------------------------


def test_adherence_on_sundays_at_the_reminder_time() -> None:
    start = date(2026, 1, 7)  # a Wednesday
    after = local(2026, 1, 7, 17, 0)
    first = next_weekday_checkin(
        PROTOCOL, course_start=start, after=after, tz=NY, reminder_time=time(19, 30)
    )
    assert at_ny(first) == (1, 11, 19, 30)
    second = next_weekday_checkin(
        PROTOCOL, course_start=start, after=first, tz=NY, reminder_time=time(19, 30)
    )
    assert at_ny(second) == (1, 18, 19, 30)


def test_adherence_not_on_the_first_day() -> None:
    start = date(2026, 1, 4)  # a Sunday: the first question comes a week later
    first = next_weekday_checkin(
        PROTOCOL, course_start=start, after=local(2026, 1, 4, 9, 0), tz=NY, reminder_time=SIX_PM
    )
    assert at_ny(first) == (1, 11, 18, 0)


# -- exercise reminders ------------------------------------------------------------


def reminder(after: datetime, *, start: date, at: time = SIX_PM) -> datetime:
    return next_exercise_reminder(
        PROTOCOL, course_start=start, after=after, tz=NY, reminder_time=at
    )


def test_daily_reminder_across_spring_forward() -> None:
    start = date(2026, 3, 1)
    before = reminder(local(2026, 3, 7, 12, 0), start=start)
    after = reminder(before, start=start)
    assert before == datetime(2026, 3, 7, 23, 0, tzinfo=UTC)  # 18:00 EST
    assert after == datetime(2026, 3, 8, 22, 0, tzinfo=UTC)  # 18:00 EDT
    assert after - before == timedelta(hours=23)
    assert before.astimezone(NY).time() == after.astimezone(NY).time() == SIX_PM


def test_daily_reminder_across_fall_back() -> None:
    start = date(2026, 10, 20)
    before = reminder(local(2026, 10, 31, 12, 0), start=start)
    after = reminder(before, start=start)
    assert before == datetime(2026, 10, 31, 22, 0, tzinfo=UTC)  # 18:00 EDT
    assert after == datetime(2026, 11, 1, 23, 0, tzinfo=UTC)  # 18:00 EST
    assert after - before == timedelta(hours=25)
    assert before.astimezone(NY).time() == after.astimezone(NY).time() == SIX_PM


def test_reminder_in_the_spring_forward_gap_goes_out_a_gap_later() -> None:
    start = date(2026, 3, 1)
    gap_time = time(2, 30)
    assert not exists_locally(date(2026, 3, 8), gap_time, NY)
    result = reminder(local(2026, 3, 7, 12, 0), start=start, at=gap_time)
    assert result == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT
    assert result.astimezone(NY).time() == time(3, 30)
    # The next day the time exists again.
    following = reminder(result, start=start, at=gap_time)
    assert following.astimezone(NY) == local(2026, 3, 9, 2, 30)


def test_reminder_in_the_fall_back_hour_goes_out_once_at_the_first() -> None:
    start = date(2026, 10, 20)
    fold_time = time(1, 30)
    assert is_ambiguous(date(2026, 11, 1), fold_time, NY)
    first = reminder(local(2026, 10, 31, 12, 0), start=start, at=fold_time)
    assert first == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    second = reminder(first, start=start, at=fold_time)
    assert second == datetime(2026, 11, 2, 6, 30, tzinfo=UTC)  # next day, 01:30 EST


def test_cadence_daily_for_four_weeks_then_mon_wed_fri() -> None:
    start = date(2026, 1, 5)  # a Monday; day 27 is Sunday Feb 1
    when = local(2026, 1, 1, 0, 0)
    days: list[date] = []
    for _ in range(36):
        when = reminder(when, start=start)
        days.append(when.astimezone(NY).date())
    daily = days[:28]
    assert daily == [start + timedelta(days=n) for n in range(28)]
    later = days[28:]
    assert later[:4] == [date(2026, 2, 2), date(2026, 2, 4), date(2026, 2, 6), date(2026, 2, 9)]
    assert all(day.weekday() in (0, 2, 4) for day in later)
    assert is_exercise_day(PROTOCOL, course_start=start, day=date(2026, 2, 1))
    assert not is_exercise_day(PROTOCOL, course_start=start, day=date(2026, 2, 3))
    assert not is_exercise_day(PROTOCOL, course_start=start, day=date(2026, 1, 4))


@given(
    tz=st.sampled_from(ZONES),
    start=st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)),
    after=st.datetimes(min_value=datetime(2024, 12, 1), max_value=datetime(2028, 6, 1)),
    at=st.times(),
)
def test_exercise_reminder_properties(tz: ZoneInfo, start: date, after: datetime, at: time) -> None:
    moment = after.replace(tzinfo=tz)
    result = next_exercise_reminder(
        PROTOCOL, course_start=start, after=moment, tz=tz, reminder_time=at
    )
    assert result > moment
    result_local = result.astimezone(tz)
    day = result_local.date()
    if exists_locally(day, at, tz):
        assert result_local.time() == at
    else:  # the gap: the same distance past the jump, a gap-length late
        assert result_local.time() > at
        assert result == local_instant(day, at, tz)
    assert is_exercise_day(PROTOCOL, course_start=start, day=day)
    # Nothing earlier was skipped: no reminder day in between had a later instant.
    probe = max(start, moment.astimezone(tz).date() - timedelta(days=1))
    while probe < day:
        if is_exercise_day(PROTOCOL, course_start=start, day=probe):
            assert local_instant(probe, at, tz) <= moment
        probe += timedelta(days=1)


# -- the whole session plan, as a property ----------------------------------------


@given(
    tz=st.sampled_from(ZONES),
    t0=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)),
)
def test_session_plan_properties(tz: ZoneInfo, t0: datetime) -> None:
    session_end = t0.replace(tzinfo=tz)
    planned = {
        p.key: p
        for p in plan_session_checkins(PROTOCOL, session_end=session_end, tz=tz, now=session_end)
    }
    assert list(planned) == ["h3", "h24", "h48", "h72"]
    for p in planned.values():
        if p.skipped:
            continue
        assert p.due_at > session_end
        assert not in_quiet_hours(PROTOCOL, p.due_at, tz)
        assert p.expires_at > p.due_at
        # Anchored at the scheduled time, which a deferral only moves later.
        assert p.expires_at <= expires_at(PROTOCOL.checkin(p.key), due_at=p.due_at, tz=tz)
        if p.nudge_at is not None:
            assert p.due_at < p.nudge_at < p.expires_at
            assert not in_quiet_hours(PROTOCOL, p.nudge_at, tz)
    h3 = planned["h3"]
    if not h3.skipped:
        local_due = h3.due_at.astimezone(tz)
        assert h3.due_at - session_end >= timedelta(hours=1)
        # T0 + 3 h at most, unless an after-midnight session waited for 08:00.
        assert h3.due_at - session_end <= timedelta(hours=3) or local_due.time() == time(8)
        assert local_due.date() == session_end.date()
        assert local_due.time() <= time(21)
    # The 24 h check-in is always the next morning's window.
    h24 = planned["h24"].due_at.astimezone(tz)
    assert time(9) <= h24.time() <= time(11)
    assert h24.date() == session_end.date() + timedelta(days=1)


# -- quiet hours against the due time (issue 10, item 4) ----------------------------------


def _at(hour: int, minute: int = 0, second: int = 0, *, day: int = 10) -> datetime:
    return datetime(2026, 6, day, hour, minute, second, tzinfo=NY)


@pytest.mark.parametrize(
    ("due", "held"),
    [
        ((20, 59, 59), False),
        ((21, 0, 0), False),  # the boundary is inclusive: 21:00 may be used
        ((21, 0, 1), True),
    ],
)
def test_due_time_at_the_21_00_boundary(due: tuple[int, int, int], held: bool) -> None:
    when = _at(*due)
    assert held_by_quiet_hours(PROTOCOL, due_at=when, now=when, tz=NY) is held


@pytest.mark.parametrize(
    ("due", "reached", "held"),
    [
        ((21, 0, 0), (21, 0, 1), False),  # the 3 h check-in due at 21:00, reached a moment late
        ((20, 59, 59), (21, 0, 1), False),
        ((20, 50, 0), (21, 30, 0), False),  # a late pass, still useful
        ((20, 50, 0), (22, 0, 0), False),  # exactly the grace (60 min) into quiet hours
        ((20, 50, 0), (22, 0, 1), True),  # past the grace: waits for the morning
        ((21, 0, 1), (21, 0, 2), True),  # due inside quiet hours
        ((10, 0, 0), (20, 59, 59), False),  # not in quiet hours at all
        ((10, 0, 0), (21, 5, 0), False),
    ],
)
def test_a_late_pass_is_judged_by_the_due_time(
    due: tuple[int, int, int], reached: tuple[int, int, int], held: bool
) -> None:
    assert held_by_quiet_hours(PROTOCOL, due_at=_at(*due), now=_at(*reached), tz=NY) is held


def test_reached_in_the_small_hours_waits_for_the_morning() -> None:
    """The bot was down all evening: a message due at 10:00 is not sent at 03:00."""
    assert held_by_quiet_hours(PROTOCOL, due_at=_at(10), now=_at(3, day=11), tz=NY)
    assert held_by_quiet_hours(PROTOCOL, due_at=_at(20, 50), now=_at(0, 30, day=11), tz=NY)
    assert not held_by_quiet_hours(PROTOCOL, due_at=_at(10), now=_at(8, day=11), tz=NY)


def test_late_grace_comes_from_the_protocol() -> None:
    none = replace(PROTOCOL, quiet_hours=replace(PROTOCOL.quiet_hours, late_grace=timedelta(0)))
    assert not held_by_quiet_hours(none, due_at=_at(21), now=_at(21), tz=NY)
    assert held_by_quiet_hours(none, due_at=_at(21), now=_at(21, 0, 1), tz=NY)
    assert PROTOCOL.quiet_hours.late_grace == timedelta(minutes=60)


@pytest.mark.parametrize("t0", [(19, 30), (19, 45), (20, 0)])
def test_sessions_ending_19_30_to_20_00_get_h3_at_exactly_21_00(t0: tuple[int, int]) -> None:
    planned = plan(local(2026, 6, 10, *t0))["h3"]
    assert at_ny(planned.due_at) == (6, 10, 21, 0) and planned.skip_reason is None
    # and recorded a moment after 21:00 it still goes out, now
    late = plan(local(2026, 6, 10, *t0), now=_at(21, 0, 1))["h3"]
    assert late.skip_reason is None and late.due_at == _at(21, 0, 1)


def test_h24_after_a_midnight_session_on_the_day_dst_ends_is_the_next_morning() -> None:
    """Found by test_session_plan_properties: the 25-hour day put T0 + 24 h on the same date
    (23:00) and the window then moved it to 11:00 that same day, 11 hours after T0."""
    t0 = local(2025, 11, 2, 0, 0)  # New York, the night the clocks go back
    assert at_ny(plan(t0)["h24"].due_at) == (11, 3, 9, 0)
