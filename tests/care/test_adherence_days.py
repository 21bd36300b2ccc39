"""The days a patient's exercises were planned, as the reminder plans them (issue 15 step
6): the card's done/planned counts and the chart's strip stand on this."""

from __future__ import annotations

from datetime import date, timedelta

from care.patient_view import planned_days
from flows.loader import load_protocol

PROTOCOL = load_protocol()
KEYS = ["piriformis_stretch", "glute_bridge"]  # a stretch (daily) and a strength (M/W/F)
MONDAY = date(2026, 11, 23)


def test_strength_on_its_weekdays_none_on_a_needling_day_or_before_the_course() -> None:
    days = [MONDAY - timedelta(days=1) + timedelta(days=n) for n in range(9)]  # Sun..Mon
    plan = planned_days(
        PROTOCOL, KEYS, days, course_start=MONDAY, needling_days=frozenset({MONDAY})
    )
    assert [plan[d] for d in days] == [
        (),  # Sunday: before the course
        (),  # Monday: the needling day (walking and gentle movement only)
        ("piriformis_stretch",),  # Tuesday
        ("piriformis_stretch", "glute_bridge"),  # Wednesday
        ("piriformis_stretch",),
        ("piriformis_stretch", "glute_bridge"),  # Friday
        ("piriformis_stretch",),
        ("piriformis_stretch",),  # Sunday
        ("piriformis_stretch", "glute_bridge"),  # Monday, no session
    ]


def test_no_course_nothing_planned_and_later_weeks_on_the_later_days_only() -> None:
    assert (
        planned_days(PROTOCOL, KEYS, [MONDAY], course_start=None, needling_days=frozenset())[MONDAY]
        == ()
    )
    plan = PROTOCOL.exercise_plan
    later = MONDAY + timedelta(weeks=plan.daily_weeks)
    week = [later + timedelta(days=n) for n in range(7)]
    planned = planned_days(PROTOCOL, KEYS, week, course_start=MONDAY, needling_days=frozenset())
    assert {d.weekday() for d in week if planned[d]} == set(plan.later_days)
