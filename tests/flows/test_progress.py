"""Progress rules: responder, stall, re-evaluate, plateau, recovered — both sides of each edge.

Readings are plain data; B is the baseline Q2, P the latest weekly Q2 taken
≥ 72 h after the last session.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.loader import load_protocol
from flows.progress import (
    CourseFacts,
    Reading,
    adherence_unreported,
    is_responder,
    progress_findings,
    valid_readings,
)
from flows.protocol import Protocol
from flows.triage import Finding, Tier

PROTOCOL = load_protocol()
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
Q8 = {c.key: i for i, c in enumerate(PROTOCOL.questions["Q8"].choices)}


def readings(*values: int, hours: float = 96) -> list[Reading]:
    """Weekly readings, one a week from week 1, each `hours` after the last session."""
    return [
        Reading(at=START + timedelta(weeks=n + 1), value=v, hours_after_last_session=hours)
        for n, v in enumerate(values)
    ]


def facts(
    *values: int,
    baseline: int = 6,
    sessions: int = 2,
    weeks: float = 2,
    q7: int | None = None,
    q8: str | None = None,
    hours: float = 96,
) -> CourseFacts:
    return CourseFacts(
        baseline=baseline,
        readings=readings(*values, hours=hours),
        sessions=sessions,
        weeks_since_start=weeks,
        q7_best_change=q7,
        q8_latest=None if q8 is None else Q8[q8],
    )


def keys(found: list[Finding]) -> list[str]:
    return [f.reason_key for f in found]


def by_key(found: list[Finding], key: str) -> Finding:
    (match,) = [f for f in found if f.reason_key == key]
    return match


def with_progress(**changes: Any) -> Protocol:
    return replace(PROTOCOL, progress=replace(PROTOCOL.progress, **changes))


# -- responder ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "p", "responder"),
    [
        (10, 7, True),  # 3 points, exactly 30%
        (10, 8, False),  # 2 points but 20%
        (7, 5, False),  # 2 points, 28.6%
        (7, 4, True),
        (5, 3, True),  # 2 points, 40%
        (5, 4, False),  # 1 point
        (4, 2, True),
        (4, 3, False),
        (3, 1, True),  # 2 points, 67%
        (3, 2, False),
        (2, 0, True),
        (1, 0, False),  # cannot fall 2 points
        (0, 0, False),
        (5, 6, False),  # worse
    ],
)
def test_responder_edges(baseline: int, p: int, responder: bool) -> None:
    assert is_responder(PROTOCOL, baseline, p) is responder


@given(baseline=st.integers(0, 10), p=st.integers(0, 10))
def test_responder_is_the_exact_integer_rule(baseline: int, p: int) -> None:
    drop = baseline - p
    assert is_responder(PROTOCOL, baseline, p) == (drop >= 2 and 10 * drop >= 3 * baseline)


def test_responder_numbers_come_from_the_protocol() -> None:
    assert not is_responder(with_progress(responder_drop=3), 5, 3)
    assert not is_responder(with_progress(responder_fraction=0.5), 10, 6)
    assert is_responder(with_progress(responder_fraction=0.5), 10, 5)


# -- which readings count ----------------------------------------------------------------


@pytest.mark.parametrize(("hours", "counted"), [(71, False), (71.9, False), (72, True)])
def test_readings_inside_72h_of_a_session_are_ignored(hours: float, counted: bool) -> None:
    found = progress_findings(PROTOCOL, facts(0, hours=hours))
    assert keys(found) == (["recovered"] if counted else [])


def test_valid_readings_are_sorted_and_filtered() -> None:
    early = Reading(START + timedelta(days=20), 0, 24)
    late = Reading(START + timedelta(days=14), 5, 100)
    later = Reading(START + timedelta(days=21), 4, 90)
    assert valid_readings(PROTOCOL, [later, early, late]) == [late, later]


def test_a_soreness_masked_reading_does_not_become_p() -> None:
    # the latest reading (1/10 at 30 h) does not count: P is the earlier 5
    course = CourseFacts(
        baseline=6,
        readings=[*readings(5), Reading(START + timedelta(weeks=3), 1, 30)],
        sessions=6,
        weeks_since_start=3,
        q7_best_change=None,
        q8_latest=None,
    )
    assert keys(progress_findings(PROTOCOL, course)) == ["reevaluate"]


def test_no_reading_no_finding_before_the_judging_point() -> None:
    assert progress_findings(PROTOCOL, facts(baseline=6, sessions=3, weeks=2.9)) == []
    assert progress_findings(PROTOCOL, facts(baseline=6, sessions=5, weeks=2.9)) == []


@pytest.mark.parametrize(
    ("sessions", "weeks", "flag"),
    [
        (3, 3, False),  # stall point not reached (session 4 and week 3)
        (4, 2.9, False),
        (4, 3, True),  # stall point
        (5, 2, False),
        (6, 1, True),  # re-evaluate point: 6 sessions
        (1, 5.9, False),
        (1, 6, True),  # re-evaluate point: 6 weeks
    ],
)
def test_no_usable_reading_at_the_stall_or_reevaluate_point(
    sessions: int, weeks: float, flag: bool
) -> None:
    """clinical.md second review: no usable progress reading there raises ROUTINE."""
    for course in (
        facts(baseline=6, sessions=sessions, weeks=weeks),  # no reading at all
        facts(3, 3, baseline=6, sessions=sessions, weeks=weeks, hours=71.9),  # none usable
    ):
        found = progress_findings(PROTOCOL, course)
        assert keys(found) == (["no_progress_reading"] if flag else [])
        if flag:
            assert found[0].tier is Tier.ROUTINE and not found[0].stops_checkin
            assert "72 h" in found[0].reasons[0]


def test_a_usable_reading_means_no_missing_reading_flag() -> None:
    found = progress_findings(PROTOCOL, facts(5, baseline=6, sessions=6, weeks=6, hours=72))
    assert "no_progress_reading" not in keys(found)


@pytest.mark.parametrize(("weeks", "flag"), [(0, False), (1, False), (2, True), (5, True)])
def test_adherence_not_reported_after_two_unanswered_weeks(weeks: int, flag: bool) -> None:
    found = adherence_unreported(PROTOCOL, weeks)
    assert (found is not None) is flag
    if found is not None:
        assert found.reason_key == "adherence_not_reported" and found.tier is Tier.ROUTINE
        assert f"{weeks} weeks" in found.reasons[0]


def test_adherence_unreported_weeks_come_from_the_protocol() -> None:
    three = with_progress(adherence_unreported_weeks=3)
    assert adherence_unreported(three, 2) is None
    assert adherence_unreported(three, 3) is not None


# -- stall -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sessions", "weeks", "stall"),
    [(3, 3, False), (4, 2.9, False), (4, 3, True), (5, 4, True), (3, 5, False)],
)
def test_stall_at_the_later_of_session_4_and_week_3(
    sessions: int, weeks: float, stall: bool
) -> None:
    found = progress_findings(PROTOCOL, facts(5, baseline=6, sessions=sessions, weeks=weeks))
    assert keys(found) == (["stall"] if stall else [])


def test_stall_reasons_name_the_numbers() -> None:
    found = by_key(
        progress_findings(
            PROTOCOL, facts(5, baseline=6, sessions=4, weeks=3, q7=1, q8="a_little_better")
        ),
        "stall",
    )
    assert found.tier is Tier.ROUTINE and not found.stops_checkin
    text = " ".join(found.reasons)
    assert "Usual pain 5/10 vs baseline 6 (-1, -17%)" in text
    assert "not a responder" in text and "2 points and 30%" in text
    assert "session 4, week 3" in text
    assert "+1" in found.reasons[1] and "+2" in found.reasons[1]
    assert "a little better" in found.reasons[2] and "much better" in found.reasons[2]


@pytest.mark.parametrize(("q7", "stall"), [(None, True), (0, True), (1, True), (2, False)])
def test_stall_is_lifted_by_an_activity_gain_of_2(q7: int | None, stall: bool) -> None:
    found = progress_findings(PROTOCOL, facts(5, baseline=6, sessions=4, weeks=3, q7=q7))
    assert keys(found) == (["stall"] if stall else [])


@pytest.mark.parametrize(
    ("q8", "stall"),
    [
        (None, True),
        ("no_change", True),
        ("a_little_better", True),
        ("much_better", False),
        ("very_much_better", False),
    ],
)
def test_stall_is_lifted_by_much_better_or_better(q8: str | None, stall: bool) -> None:
    found = progress_findings(PROTOCOL, facts(5, baseline=6, sessions=4, weeks=3, q8=q8))
    assert keys(found) == (["stall"] if stall else [])


def test_no_stall_for_a_responder() -> None:
    assert progress_findings(PROTOCOL, facts(4, baseline=6, sessions=4, weeks=3)) == []


def test_stall_numbers_come_from_the_protocol() -> None:
    early = with_progress(stall_session=3, stall_week=2)
    found = progress_findings(early, facts(5, baseline=6, sessions=3, weeks=2))
    assert keys(found) == ["stall"]


# -- re-evaluate -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sessions", "weeks", "reevaluate"),
    [(5, 5, False), (6, 5, True), (5, 6, True), (5, 5.9, False), (3, 6, True)],
)
def test_reevaluate_after_6_sessions_or_6_weeks_without_response(
    sessions: int, weeks: float, reevaluate: bool
) -> None:
    found = progress_findings(PROTOCOL, facts(5, baseline=6, sessions=sessions, weeks=weeks))
    if reevaluate:
        assert keys(found) == ["reevaluate"]  # stall is not repeated beside it
        flag = found[0]
        assert (flag.tier, flag.stops_checkin) == (Tier.SOON, False)
        assert f"after {sessions} sessions and {weeks:g} weeks" in flag.reasons[0]
        assert "6 sessions or 6 weeks" in flag.reasons[0]
    else:
        assert "reevaluate" not in keys(found)


def test_no_reevaluate_for_a_responder() -> None:
    assert progress_findings(PROTOCOL, facts(3, baseline=6, sessions=6, weeks=6)) == []


@pytest.mark.parametrize(
    ("values", "reevaluate"),
    [
        ((7, 7), False),  # B + 1
        ((8, 8), True),  # B + 2 twice
        ((8, 9), True),
        ((7, 8), False),  # only the last is B + 2
        ((8, 7), False),
        ((8,), False),  # one reading
        ((8, 8, 6), False),  # the last two are what counts
    ],
)
def test_reevaluate_when_pain_is_baseline_plus_2_twice_running(
    values: tuple[int, ...], reevaluate: bool
) -> None:
    found = progress_findings(PROTOCOL, facts(*values, baseline=6, sessions=2, weeks=2))
    assert ("reevaluate" in keys(found)) is reevaluate
    if reevaluate:
        reason = by_key(found, "reevaluate").reasons[0]
        assert f"{values[-2]}/10, {values[-1]}/10" in reason and "baseline 6" in reason
        assert "+2 (8/10)" in reason


def test_a_reading_inside_72h_does_not_count_toward_two_running() -> None:
    course = CourseFacts(
        baseline=6,
        readings=[*readings(8), Reading(START + timedelta(weeks=2), 9, 48)],
        sessions=2,
        weeks_since_start=2,
        q7_best_change=None,
        q8_latest=None,
    )
    assert progress_findings(PROTOCOL, course) == []


def test_reevaluate_gives_both_reasons_in_one_finding() -> None:
    found = progress_findings(PROTOCOL, facts(8, 8, baseline=6, sessions=6, weeks=6))
    assert keys(found) == ["reevaluate"]
    assert len(found[0].reasons) == 3  # no response, worse twice, what to do


def test_reevaluate_numbers_come_from_the_protocol() -> None:
    later = with_progress(reevaluate_sessions=8, reevaluate_weeks=8)
    assert keys(progress_findings(later, facts(5, baseline=6, sessions=6, weeks=6))) == ["stall"]


# -- plateau -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "plateau"),
    [
        ((4, 4, 4), True),  # moved 0
        ((5, 4, 4), False),  # moved 1
        ((4, 4, 3), False),
        ((4, 3, 4), True),  # net change |last - first| = 0 (clinical.md second review)
        ((4, 3, 5), False),  # net change 1
        ((5, 3, 4), False),  # net change 1 the other way
        ((4, 5, 4), True),
        ((6, 4, 4, 4), True),  # only the last three
        ((4, 4), False),  # two readings
        ((3, 3, 3), True),  # P = 3 > 2
        ((2, 2, 2), False),  # P = 2 is not above 2
    ],
)
def test_plateau_of_a_responder(values: tuple[int, ...], plateau: bool) -> None:
    found = progress_findings(PROTOCOL, facts(*values, baseline=8))
    assert ("plateau" in keys(found)) is plateau
    if plateau:
        flag = by_key(found, "plateau")
        assert flag.tier is Tier.ROUTINE
        assert ", ".join(f"{v}/10" for v in values[-3:]) in flag.reasons[1]
        assert "moved 0" in flag.reasons[1] and "above 2/10" in flag.reasons[1]


def test_no_plateau_for_a_non_responder() -> None:
    assert "plateau" not in keys(progress_findings(PROTOCOL, facts(7, 7, 7, baseline=8)))


def test_plateau_move_comes_from_the_protocol() -> None:
    wide = with_progress(plateau_move=2)
    assert "plateau" in keys(progress_findings(wide, facts(5, 4, 4, baseline=8)))


# -- recovered ---------------------------------------------------------------------------


@pytest.mark.parametrize(("p", "recovered"), [(0, True), (1, True), (2, False)])
def test_recovered_at_1_or_less(p: int, recovered: bool) -> None:
    found = progress_findings(PROTOCOL, facts(p, baseline=6))
    assert keys(found) == (["recovered"] if recovered else [])
    if recovered:
        assert f"Usual pain {p}/10" in found[0].reasons[0]
        assert "1/10 or less" in found[0].reasons[0] and "baseline 6" in found[0].reasons[0]


def test_a_recovered_low_baseline_patient_is_not_a_non_responder() -> None:
    # B = 1 can never fall 2 points; P = 0 is recovered, not stalled or to re-evaluate.
    assert keys(progress_findings(PROTOCOL, facts(0, baseline=1, sessions=6, weeks=6))) == [
        "recovered"
    ]


# -- properties --------------------------------------------------------------------------


@given(
    values=st.lists(st.integers(0, 10), max_size=6),
    hours=st.lists(st.sampled_from([24.0, 71.9, 72.0, 100.0]), min_size=6, max_size=6),
    baseline=st.integers(0, 10),
    sessions=st.integers(0, 10),
    weeks=st.floats(0, 12, allow_nan=False),
    q7=st.none() | st.integers(-5, 5),
    q8=st.none() | st.integers(0, 6),
)
def test_progress_properties(
    values: list[int],
    hours: list[float],
    baseline: int,
    sessions: int,
    weeks: float,
    q7: int | None,
    q8: int | None,
) -> None:
    course = CourseFacts(
        baseline=baseline,
        readings=[
            Reading(START + timedelta(weeks=n + 1), v, h)
            for n, (v, h) in enumerate(zip(values, hours, strict=False))
        ],
        sessions=sessions,
        weeks_since_start=weeks,
        q7_best_change=q7,
        q8_latest=q8,
    )
    found = progress_findings(PROTOCOL, course)
    reversed_course = replace(course, readings=list(reversed(course.readings)))
    assert progress_findings(PROTOCOL, reversed_course) == found
    found_keys = keys(found)
    assert len(set(found_keys)) == len(found_keys)
    assert not ({"stall", "reevaluate"} <= set(found_keys))
    assert not ({"plateau", "recovered"} <= set(found_keys))
    for flag in found:
        assert flag.tier is (Tier.SOON if flag.reason_key == "reevaluate" else Tier.ROUTINE)
        assert not flag.stops_checkin
        assert any(ch.isdigit() for ch in " ".join(flag.reasons))
    # only readings ≥ 72 h matter
    kept = [r for r in course.readings if r.hours_after_last_session >= 72]
    assert progress_findings(PROTOCOL, replace(course, readings=kept)) == found
    assert [f.tier for f in found] == sorted((f.tier for f in found), reverse=True)
