"""Triage: every trigger of clinical.md's alert-tier table, on both sides of its threshold.

Plain data in, findings out: answers are built with the protocol's own choice
indices, and thresholds are changed through the protocol to show they are
read from it, not written in the code.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.answers import is_valid_code
from flows.context import LOWER, TRUNK, PatientContext
from flows.loader import load_protocol
from flows.protocol import Protocol
from flows.triage import (
    AnswerFact,
    Finding,
    Reason,
    SessionFact,
    Tier,
    highest,
    triage_adherence,
    triage_answer,
    triage_patient_message,
    triage_silence,
)

PROTOCOL = load_protocol()
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TRUNK_ONLY = frozenset({TRUNK})
LOWER_ONLY = frozenset({LOWER})
YES, NO = 1, 0


def code(question: str, choice: str | tuple[str, ...], protocol: Protocol = PROTOCOL) -> int:
    """The stored value: a choice's index, or for a multi question (Q4) the mask of the keys."""
    q = protocol.questions[question]
    if q.kind == "multi":
        keys = (choice,) if isinstance(choice, str) else choice
        return sum(1 << q.choice_index(key) for key in keys)
    assert isinstance(choice, str)
    return q.choice_index(choice)


def fact(
    question: str,
    value: int | str | tuple[str, ...],
    checkin: str,
    hours: float,
    session: int = 1,
    session_start: datetime = T0,
) -> AnswerFact:
    """An answer `hours` after session `session` (which ended at `session_start`)."""
    stored = value if isinstance(value, int) else code(question, value)
    return AnswerFact(
        checkin_key=checkin,
        question_key=question,
        value=stored,
        answered_at=session_start + timedelta(hours=hours),
        session_number=session,
        hours_after_session=hours,
    )


def run(
    answer: AnswerFact,
    history: tuple[AnswerFact, ...] | list[AnswerFact] = (),
    *,
    tags: frozenset[str] = TRUNK_ONLY,
    baseline: int = 5,
    protocol: Protocol = PROTOCOL,
    sessions: tuple[SessionFact, ...] = (),
) -> list[Finding]:
    ctx = PatientContext(region_tags=tags, baseline=baseline)
    return triage_answer(
        protocol,
        answer=answer,
        ctx=ctx,
        history=history,
        session_regions_tags=tags,
        sessions=sessions,
    )


def keys(findings: list[Finding]) -> list[str]:
    return [f.reason_key for f in findings]


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


def with_triage(**changes: Any) -> Protocol:
    return replace(PROTOCOL, triage=replace(PROTOCOL.triage, **changes))


# -- tiers -------------------------------------------------------------------------------


def test_tiers_are_ordered_by_severity_not_alphabet() -> None:
    assert Tier.URGENT > Tier.URGENT_CALLBACK > Tier.SOON > Tier.ROUTINE
    assert Tier.ROUTINE < Tier.SOON <= Tier.SOON
    assert sorted([Tier.SOON, Tier.URGENT, Tier.ROUTINE, Tier.URGENT_CALLBACK]) == [
        Tier.ROUTINE,
        Tier.SOON,
        Tier.URGENT_CALLBACK,
        Tier.URGENT,
    ]
    assert [t.value for t in Tier] == ["urgent", "urgent_callback", "soon", "routine"]


def test_highest() -> None:
    assert highest([]) is None
    assert highest([triage_patient_message()]) is Tier.SOON
    urgent = only(run(fact("Q6", YES, "weekly", 200)))
    assert highest([triage_patient_message(), urgent]) is Tier.URGENT


# -- URGENT ------------------------------------------------------------------------------


@pytest.mark.parametrize(("hours", "urgent"), [(0.5, True), (71, True), (72, True), (73, False)])
def test_q5_yes_within_the_trunk_window(hours: float, urgent: bool) -> None:
    findings = run(fact("Q5", YES, "h48", hours))
    if urgent:
        found = only(findings)
        assert (found.tier, found.reason_key, found.stops_checkin) == (
            Tier.URGENT,
            "q5_chest_trunk",
            True,
        )
        assert f"{hours:g} h after session 1" in " ".join(found.reasons)
        assert "72 h" in " ".join(found.reasons)
    else:
        found = only(findings)
        assert (found.tier, found.reason_key, found.stops_checkin) == (
            Tier.SOON,
            "q5_chest",
            False,
        )
    # at any time the patient is shown the emergency text
    assert only(findings).emergency


def test_q5_yes_after_lower_needling_only_is_soon_with_the_emergency_text() -> None:
    found = only(run(fact("Q5", YES, "h24", 24), tags=LOWER_ONLY))
    assert (found.tier, found.reason_key, found.emergency) == (Tier.SOON, "q5_chest", True)
    assert "emergency text" in found.reasons[1]
    assert keys(run(fact("Q5", YES, "h24", 24), tags=frozenset({TRUNK, LOWER}))) == [
        "q5_chest_trunk"
    ]


@pytest.mark.parametrize(("since_trunk", "urgent"), [(20, True), (72, True), (72.1, False)])
def test_q5_yes_within_72h_of_any_trunk_session(since_trunk: float, urgent: bool) -> None:
    """Yesterday's TRUNK session counts although today's session was LOWER only (issue 10)."""
    start2 = T0 + timedelta(hours=since_trunk - 3)  # session 2 (LOWER) ended 3 h before
    trunk = SessionFact(1, T0, TRUNK_ONLY)
    lower = SessionFact(2, start2, LOWER_ONLY)
    answer = fact("Q5", YES, "h3", 3, session=2, session_start=start2)
    found = only(run(answer, tags=LOWER_ONLY, sessions=(trunk, lower)))
    if urgent:
        assert (found.tier, found.reason_key) == (Tier.URGENT, "q5_chest_trunk")
        assert "session 1" in found.reasons[1]
    else:
        assert (found.tier, found.reason_key) == (Tier.SOON, "q5_chest")
    assert found.emergency
    # without session 1 in the facts, it is only the SOON reading
    assert keys(run(answer, tags=LOWER_ONLY, sessions=(lower,))) == ["q5_chest"]


def test_q5_a_trunk_session_after_the_answer_does_not_count() -> None:
    later = SessionFact(2, T0 + timedelta(hours=30), TRUNK_ONLY)
    answer = fact("Q5", YES, "h24", 24)
    assert keys(run(answer, tags=LOWER_ONLY, sessions=(later,))) == ["q5_chest"]


def test_q5_no_is_nothing() -> None:
    assert run(fact("Q5", NO, "h3", 3)) == []


def test_q5_window_comes_from_the_protocol() -> None:
    narrow = with_triage(trunk_window_hours=48)
    assert keys(run(fact("Q5", YES, "h48", 48), protocol=narrow)) == ["q5_chest_trunk"]
    assert keys(run(fact("Q5", YES, "h48", 49), protocol=narrow)) == ["q5_chest"]


@pytest.mark.parametrize("checkin,hours", [("h24", 24), ("weekly", 170), ("weekly", 400)])
def test_q6_yes_is_urgent_whenever_asked(checkin: str, hours: float) -> None:
    found = only(run(fact("Q6", YES, checkin, hours), tags=LOWER_ONLY))
    assert (found.tier, found.reason_key, found.stops_checkin) == (
        Tier.URGENT,
        "q6_cauda_equina",
        True,
    )
    assert run(fact("Q6", NO, checkin, hours), tags=LOWER_ONLY) == []


@pytest.mark.parametrize(
    ("choice", "reason"),
    [("leg_weakness", "leg_weakness"), ("fainted", "fainted")],
)
@pytest.mark.parametrize(("checkin", "hours"), [("h3", 1.5), ("h24", 24), ("h72", 72)])
def test_q4_red_flags_are_urgent(choice: str, reason: str, checkin: str, hours: float) -> None:
    found = only(run(fact("Q4", choice, checkin, hours)))
    assert (found.tier, found.reason_key, found.stops_checkin) == (Tier.URGENT, reason, True)
    assert f"{hours:g} h after session 1" in " ".join(found.reasons)


@pytest.mark.parametrize("choice", ["nothing_new"])
def test_q4_nothing_new_is_nothing(choice: str) -> None:
    assert run(fact("Q4", choice, "h3", 3)) == []


def test_bleeding_that_will_not_stop_is_urgent() -> None:
    found = only(run(fact("Q3", "bleeding_wont_stop", "h24", 20)))
    assert (found.tier, found.reason_key, found.stops_checkin) == (Tier.URGENT, "bleeding", True)


@pytest.mark.parametrize("choice", ["fine", "small_bruise"])
def test_normal_sites_are_nothing(choice: str) -> None:
    assert run(fact("Q3", choice, "h24", 24)) == []


# -- fever and the needle sites ----------------------------------------------------------


def test_fever_and_spreading_redness_in_the_same_checkin_is_urgent() -> None:
    redness = fact("Q3", "spreading_redness", "h24", 24)
    fever = fact("Q4", "fever_chills", "h24", 24.02)
    found = only(run(fever, [redness]))
    assert (found.tier, found.reason_key) == (Tier.URGENT, "fever_spreading_redness")
    assert found.stops_checkin and found.emergency


@pytest.mark.parametrize(
    ("gap_days", "urgent"), [(1, True), (6.9, True), (7, True), (7.01, False), (9, False)]
)
def test_fever_then_redness_pairs_within_7_days(gap_days: float, urgent: bool) -> None:
    fever = fact("Q4", "fever_chills", "h3", 3)
    redness = fact("Q3", "spreading_redness", "weekly", 3 + 24 * gap_days)
    findings = run(redness, [fever])
    found = only(findings)
    if urgent:
        assert (found.tier, found.reason_key) == (Tier.URGENT, "fever_spreading_redness")
        assert "7 days" in found.reasons[1]
    else:
        assert (found.tier, found.reason_key) == (Tier.SOON, "site_infection_signs")


def test_fever_and_redness_of_different_sessions_do_not_pair() -> None:
    fever = fact("Q4", "fever_chills", "h72", 72, session=1)
    start2 = T0 + timedelta(days=4)
    redness = fact("Q3", "spreading_redness", "h24", 24, session=2, session_start=start2)
    assert keys(run(redness, [fever])) == ["site_infection_signs"]
    # … Q4 of session 2 against Q3 of session 2 pairs
    fever2 = fact("Q4", "fever_chills", "h72", 72, session=2, session_start=start2)
    assert keys(run(fever2, [redness])) == ["fever_spreading_redness"]


def test_redness_then_fever_pairs_too() -> None:
    redness = fact("Q3", "spreading_redness", "h24", 24)
    fever = fact("Q4", "fever_chills", "h72", 47)
    assert keys(run(fever, [redness])) == ["fever_spreading_redness"]


def test_pairing_window_comes_from_the_protocol() -> None:
    short = with_triage(fever_site_within_days=1)
    fever = fact("Q4", "fever_chills", "h3", 3)
    redness = fact("Q3", "spreading_redness", "h48", 48)
    assert keys(run(redness, [fever], protocol=short)) == ["site_infection_signs"]
    assert keys(run(redness, [fever])) == ["fever_spreading_redness"]


def test_fever_alone_is_soon() -> None:
    found = only(run(fact("Q4", "fever_chills", "h24", 24)))
    assert (found.tier, found.reason_key, found.stops_checkin) == (Tier.SOON, "fever", False)
    assert "24 h after session 1" in found.reasons[0]
    assert not found.emergency


@pytest.mark.parametrize("choice", ["spreading_redness", "swelling_or_pus"])
def test_site_signs_without_fever_are_soon(choice: str) -> None:
    found = only(run(fact("Q3", choice, "h48", 48)))
    assert (found.tier, found.reason_key) == (Tier.SOON, "site_infection_signs")
    assert "48 h after session 1" in found.reasons[0]
    assert "no fever" in found.reasons[1].lower()


def test_swelling_or_pus_with_fever_is_urgent() -> None:
    fever = fact("Q4", "fever_chills", "h24", 24)
    pus = fact("Q3", "swelling_or_pus", "h48", 48)
    found = only(run(pus, [fever]))
    assert (found.tier, found.reason_key, found.emergency) == (
        Tier.URGENT,
        "fever_site_swelling",
        True,
    )
    assert "swelling or pus" in found.reasons[0].lower() and "24 h apart" in found.reasons[1]
    fever_again = fact("Q4", "fever_chills", "h72", 72)
    assert keys(run(fever_again, [pus])) == ["fever_site_swelling"]
    # 7 days is the edge here too
    late = fact("Q4", "fever_chills", "weekly", 48 + 24 * 7 + 1)
    assert keys(run(late, [pus])) == ["fever"]


def test_answers_given_after_the_new_answer_are_ignored() -> None:
    redness = fact("Q3", "spreading_redness", "h24", 24)
    later_fever = fact("Q4", "fever_chills", "h24", 25)
    assert keys(run(redness, [later_fever])) == ["site_infection_signs"]
    assert keys(run(redness, [redness])) == ["site_infection_signs"]


# -- URGENT (callback) -------------------------------------------------------------------


@pytest.mark.parametrize("question", ["Q1", "Q2"])
@pytest.mark.parametrize(("value", "callback"), [(8, False), (9, True), (10, True)])
def test_pain_9_10_asks_for_a_callback(question: str, value: int, callback: bool) -> None:
    findings = run(fact(question, value, "h3" if question == "Q1" else "h24", 3))
    if callback:
        found = only(findings)
        assert (found.tier, found.reason_key, found.stops_checkin) == (
            Tier.URGENT_CALLBACK,
            "pain_9_10",
            False,
        )
        assert f"{value}/10" in found.reasons[0]
        assert "2 h" in found.reasons[1]
    else:
        assert findings == []


def test_q2_callback_reason_shows_the_baseline() -> None:
    found = only(run(fact("Q2", 9, "h24", 24), baseline=4))
    assert "Usual pain 9/10" in found.reasons[0] and "baseline 4 (+5)" in found.reasons[0]


def test_callback_threshold_comes_from_the_protocol() -> None:
    lower = with_triage(urgent_callback_min=8)
    assert keys(run(fact("Q1", 8, "h3", 3), protocol=lower)) == ["pain_9_10"]


def test_callback_is_not_raised_after_an_urgent_answer_in_the_same_checkin() -> None:
    cauda = fact("Q6", YES, "weekly", 170)
    pain = fact("Q2", 10, "weekly", 170.1)
    assert "pain_9_10" not in keys(run(pain, [cauda], tags=LOWER_ONLY))
    # …but an URGENT answer in another check-in does not hide it.
    fainted = fact("Q4", "fainted", "h3", 3)
    assert keys(run(fact("Q1", 9, "h24", 24), [fainted])) == ["pain_9_10", "q1_high_24h"]


def test_an_urgent_answer_in_last_weeks_checkin_does_not_hide_a_callback() -> None:
    # both weekly, same session, a week apart: two sendings of the weekly check-in
    cauda = fact("Q6", YES, "weekly", 170)
    pain = fact("Q2", 9, "weekly", 170 + 24 * 7)
    assert "pain_9_10" in keys(run(pain, [cauda], tags=LOWER_ONLY))
    # an unknown check-in key is never taken for the same sending
    cauda = replace(cauda, checkin_key="custom")
    pain = replace(fact("Q2", 9, "weekly", 170.1), checkin_key="custom")
    assert "pain_9_10" in keys(run(pain, [cauda], tags=LOWER_ONLY))


def test_default_windows() -> None:
    assert PROTOCOL.triage.fever_site_within_days == 7
    assert PROTOCOL.triage.numbness_hours == 24
    assert PROTOCOL.triage.soon_q1_48h_alone == 7
    assert PROTOCOL.triage.trunk_window_hours == 72


def test_callback_does_not_hide_the_soon_finding_of_the_same_answer() -> None:
    findings = run(fact("Q2", 9, "h48", 48), baseline=5)
    assert keys(findings) == ["pain_9_10", "q2_above_baseline"]
    assert highest(findings) is Tier.URGENT_CALLBACK


# -- SOON: soreness (Q1) -----------------------------------------------------------------


@pytest.mark.parametrize(("value", "soon"), [(6, False), (7, True)])
def test_q1_at_24h(value: int, soon: bool) -> None:
    findings = run(fact("Q1", value, "h24", 23))
    if soon:
        found = only(findings)
        assert (found.tier, found.reason_key) == (Tier.SOON, "q1_high_24h")
        assert f"{value}/10 at the 24 h check-in" in found.reasons[0]
        assert "7/10" in found.reasons[1]
    else:
        assert findings == []


def test_q1_high_at_3h_is_not_the_24h_rule() -> None:
    assert run(fact("Q1", 8, "h3", 3)) == []


def test_q1_24h_threshold_comes_from_the_protocol() -> None:
    assert keys(run(fact("Q1", 6, "h24", 24), protocol=with_triage(soon_q1_24h=6))) == [
        "q1_high_24h"
    ]


@pytest.mark.parametrize(
    ("at_24", "at_48", "soon"),
    [
        (5, 5, True),  # not lower than at 24 h, ≥ 4
        (5, 6, True),  # higher
        (5, 4, False),  # one lower
        (4, 4, True),  # ≥ 4 edge
        (3, 3, False),  # not falling but below 4
        (6, 5, False),
    ],
)
def test_q1_at_48h_not_lower_than_at_24h(at_24: int, at_48: int, soon: bool) -> None:
    earlier = [fact("Q1", 8, "h3", 3), fact("Q1", at_24, "h24", 24)]
    findings = run(fact("Q1", at_48, "h48", 48), earlier)
    if soon:
        found = only(findings)
        assert (found.tier, found.reason_key) == (Tier.SOON, "q1_not_falling_48h")
        assert f"{at_48}/10 at the 48 h check-in" in found.reasons[0]
        assert f"not lower than {at_24}/10 at 24 h" in found.reasons[0]
    else:
        assert findings == []


@pytest.mark.parametrize(("value", "soon"), [(6, False), (7, True), (10, True)])
def test_q1_at_48h_without_a_24h_answer(value: int, soon: bool) -> None:
    findings = run(fact("Q1", value, "h48", 48), [fact("Q1", 6, "h3", 3)])
    assert "q1_high_48h" in keys(findings) if soon else findings == []
    if soon:
        assert "no answer at 24 h" in findings[-1].reasons[0]
        assert "7/10 at 48 h" in findings[-1].reasons[1]


@pytest.mark.parametrize(("at_24", "at_48", "key"), [(9, 7, "q1_high_48h"), (9, 6, None)])
def test_q1_7_at_48h_is_soon_even_when_falling(at_24: int, at_48: int, key: str | None) -> None:
    findings = run(fact("Q1", at_48, "h48", 48), [fact("Q1", at_24, "h24", 24)])
    assert keys(findings) == ([key] if key else [])


def test_q1_48h_alone_threshold_comes_from_the_protocol() -> None:
    answer = fact("Q1", 6, "h48", 48)
    assert keys(run(answer, protocol=with_triage(soon_q1_48h_alone=6))) == ["q1_high_48h"]


def test_q1_at_48h_compares_with_24h_of_the_same_session_only() -> None:
    old = fact("Q1", 5, "h24", 24, session=1)
    start2 = T0 + timedelta(days=7)
    answer = fact("Q1", 5, "h48", 48, session=2, session_start=start2)
    assert run(answer, [old]) == []


@pytest.mark.parametrize(("value", "soon"), [(3, False), (4, True)])
def test_q1_at_72h(value: int, soon: bool) -> None:
    findings = run(fact("Q1", value, "h72", 72))
    assert keys(findings) == (["q1_high_72h"] if soon else [])
    if soon:
        assert "4/10 at the 72 h check-in" in findings[0].reasons[0]


# -- SOON: usual pain (Q2) above baseline ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "hours", "soon"),
    [(6, 48, False), (7, 48, True), (7, 47, False), (6, 47, False), (7, 170, True)],
)
def test_q2_above_baseline_from_48h(value: int, hours: float, soon: bool) -> None:
    findings = run(fact("Q2", value, "weekly" if hours > 72 else "h48", hours), baseline=5)
    if soon:
        found = only(findings)
        assert (found.tier, found.reason_key) == (Tier.SOON, "q2_above_baseline")
        assert f"Usual pain {value}/10" in found.reasons[0]
        assert f"baseline 5 (+{value - 5})" in found.reasons[0]
        assert "+2" in found.reasons[1] and "48 h" in found.reasons[1]
    else:
        assert findings == []


def test_q2_rise_comes_from_the_protocol() -> None:
    strict = with_triage(baseline_rise=3, baseline_rise_min_hours=24)
    assert run(fact("Q2", 7, "h48", 48), protocol=strict) == []
    assert keys(run(fact("Q2", 8, "h24", 24), protocol=strict)) == ["q2_above_baseline"]


# -- SOON: new numbness ------------------------------------------------------------------


def test_numbness_at_the_3h_checkin_alone_is_nothing() -> None:
    assert run(fact("Q4", "numbness_tingling", "h3", 3)) == []


@pytest.mark.parametrize("checkin,hours", [("h24", 14), ("h24", 24), ("h48", 48), ("h72", 72)])
def test_numbness_at_the_24h_checkin_or_later_is_soon(checkin: str, hours: float) -> None:
    """Even a 24 h check-in moved to the next morning (14 h after the session) counts."""
    found = only(run(fact("Q4", "numbness_tingling", checkin, hours)))
    assert (found.tier, found.reason_key, found.emergency) == (Tier.SOON, "numbness_24h", False)
    assert f"{hours:g} h after session 1" in found.reasons[0]


@pytest.mark.parametrize(("hours", "soon"), [(23.9, False), (24, True)])
def test_numbness_reported_on_demand_counts_from_24h(hours: float, soon: bool) -> None:
    """A report outside the session check-ins (e.g. /symptom) counts by elapsed time."""
    answer = fact("Q4", "numbness_tingling", "symptom", hours)
    assert keys(run(answer)) == (["numbness_24h"] if soon else [])


def test_numbness_at_two_checkins_is_soon() -> None:
    first = fact("Q4", "numbness_tingling", "h3", 1.5)
    again = fact("Q4", "numbness_tingling", "symptom", 4)
    found = only(run(again, [first]))
    assert found.reason_key == "numbness_24h" and "two check-ins" in found.reasons[0]
    # "nothing new" in between does not undo the first report
    clear = fact("Q4", "nothing_new", "symptom", 2)
    assert keys(run(again, [first, clear])) == ["numbness_24h"]


def test_numbness_from_an_earlier_session_does_not_count() -> None:
    first = fact("Q4", "numbness_tingling", "h72", 72, session=1)
    start2 = T0 + timedelta(days=7)
    again = fact("Q4", "numbness_tingling", "h3", 3, session=2, session_start=start2)
    assert run(again, [first]) == []


def test_numbness_hours_come_from_the_protocol() -> None:
    answer = fact("Q4", "numbness_tingling", "symptom", 13)
    assert keys(run(answer, protocol=with_triage(numbness_hours=12))) == ["numbness_24h"]


# -- Q4 takes several choices --------------------------------------------------------------


def test_near_faint_is_soon_with_advice_and_a_faint_is_urgent() -> None:
    near = only(run(fact("Q4", "felt_faint", "h3", 2)))
    assert (near.tier, near.reason_key, near.emergency) == (Tier.SOON, "felt_faint", False)
    assert near.advice == ("felt_faint",)
    assert "lie down" in PROTOCOL.advice["felt_faint"].get("en")
    assert "drive" in PROTOCOL.advice["felt_faint"].get("en")
    faint = only(run(fact("Q4", "fainted", "h3", 2)))
    assert (faint.tier, faint.reason_key, faint.emergency) == (Tier.URGENT, "fainted", True)
    # both ticked: the faint decides, no second near-faint finding
    assert keys(run(fact("Q4", ("felt_faint", "fainted"), "h3", 2))) == ["fainted"]


def test_weakness_and_fever_in_one_answer_give_both_findings() -> None:
    findings = run(fact("Q4", ("leg_weakness", "fever_chills"), "h24", 24))
    assert keys(findings) == ["leg_weakness", "fever"]
    assert [f.tier for f in findings] == [Tier.URGENT, Tier.SOON]
    assert highest(findings) is Tier.URGENT


def test_every_red_flag_of_one_answer_is_returned() -> None:
    redness = fact("Q3", "spreading_redness", "h24", 24)
    every = ("numbness_tingling", "leg_weakness", "felt_faint", "fainted", "fever_chills")
    findings = run(fact("Q4", every, "h48", 48), [redness])
    assert keys(findings) == ["leg_weakness", "fainted", "fever_spreading_redness", "numbness_24h"]


def test_a_multi_answer_of_one_choice_reads_like_the_old_single_choice() -> None:
    q4 = PROTOCOL.questions["Q4"]
    assert q4.kind == "multi"
    assert keys(run(fact("Q4", 1 << q4.choice_index("leg_weakness"), "h3", 3))) == ["leg_weakness"]
    assert run(fact("Q4", "nothing_new", "h3", 3)) == []


# -- silence, free text, adherence -------------------------------------------------------


@pytest.mark.parametrize(
    ("missed", "within", "soon"),
    [(1, True, False), (2, True, True), (3, True, True), (2, False, False), (0, True, False)],
)
def test_two_missed_checkins_in_the_first_48h(missed: int, within: bool, soon: bool) -> None:
    found = triage_silence(PROTOCOL, missed_consecutive=missed, within_first_hours=within)
    if soon:
        assert found is not None
        assert (found.tier, found.reason_key, found.stops_checkin) == (
            Tier.SOON,
            "missed_checkins",
            False,
        )
        assert f"{missed} check-ins" in found.reasons[0] and "48 h" in found.reasons[0]
    else:
        assert found is None


def test_patient_message_is_soon() -> None:
    found = triage_patient_message()
    assert (found.tier, found.reason_key, found.stops_checkin) == (
        Tier.SOON,
        "patient_message",
        False,
    )
    assert found.reasons


SUNDAY = date(2026, 3, 8)


def weeks(*done: int, start: date = SUNDAY) -> list[tuple[date, int]]:
    return [(start + timedelta(days=7 * i), d) for i, d in enumerate(done)]


@pytest.mark.parametrize(
    ("planned", "done", "routine"),
    [
        (3, (1, 1), True),  # 33% twice
        (3, (1, 2), False),  # 67% in the second week
        (3, (2, 1), False),
        (7, (3, 3), True),  # 43% < 50%
        (7, (4, 3), False),  # 57%
        (4, (2, 1), False),  # exactly 50% is not below
        (3, (1,), False),  # one week is not "two weeks running"
        (3, (3, 1, 1), True),  # only the last two weeks matter
        (3, (1, 1, 3), False),
        (0, (0, 0), False),  # nothing planned
    ],
)
def test_adherence_below_half_two_weeks_running(
    planned: int, done: tuple[int, ...], routine: bool
) -> None:
    found = triage_adherence(PROTOCOL, weekly_q9=weeks(*done), planned_days_per_week=planned)
    if routine:
        assert found is not None
        assert (found.tier, found.reason_key) == (Tier.ROUTINE, "low_adherence")
        assert "50%" in found.reasons[0] and f"{planned} planned days" in found.reasons[0]
        assert f"{done[-1]}/{planned}" in found.reasons[1]
    else:
        assert found is None


def test_adherence_needs_consecutive_weeks() -> None:
    gap = [(SUNDAY, 1), (SUNDAY + timedelta(days=14), 1)]
    assert triage_adherence(PROTOCOL, weekly_q9=gap, planned_days_per_week=3) is None
    # dates are the check-ins' due dates, in any order
    shuffled = [(SUNDAY + timedelta(days=7), 0), (SUNDAY, 1)]
    assert triage_adherence(PROTOCOL, weekly_q9=shuffled, planned_days_per_week=3) is not None


def test_adherence_a_week_answered_twice_counts_its_later_answer() -> None:
    twice = [(SUNDAY, 1), (SUNDAY + timedelta(days=6), 1), (SUNDAY + timedelta(days=7), 3)]
    assert triage_adherence(PROTOCOL, weekly_q9=twice, planned_days_per_week=3) is None
    twice = [(SUNDAY, 1), (SUNDAY + timedelta(days=6), 3), (SUNDAY + timedelta(days=7), 1)]
    assert triage_adherence(PROTOCOL, weekly_q9=twice, planned_days_per_week=3) is not None


def test_adherence_fraction_comes_from_the_protocol() -> None:
    loose = with_triage(adherence_fraction=0.7)
    found = triage_adherence(loose, weekly_q9=weeks(2, 2), planned_days_per_week=3)
    assert found is not None and "70%" in found.reasons[0]


# -- every finding carries numbers -------------------------------------------------------


def test_every_reason_key_is_known() -> None:
    assert {r.value for r in Reason} == {
        "q6_cauda_equina",
        "q5_chest_trunk",
        "leg_weakness",
        "fainted",
        "fever_spreading_redness",
        "bleeding",
        "pain_9_10",
        "site_infection_signs",
        "fever",
        "numbness_24h",
        "q1_high_24h",
        "q1_not_falling_48h",
        "q1_high_72h",
        "q2_above_baseline",
        "missed_checkins",
        "patient_message",
        "low_adherence",
        "stall",
        "reevaluate",
        "plateau",
        "recovered",
        "q5_chest",
        "felt_faint",
        "fever_site_swelling",
        "q1_high_48h",
        "no_progress_reading",
        "adherence_not_reported",
        "exercise_painful",
        "exercise_painful_repeated",
    }
    assert all(len(r.value) <= 48 for r in Reason)  # alert.reason_key column


# -- properties --------------------------------------------------------------------------

CHECKINS = ("h3", "h24", "h48", "h72", "weekly")


@st.composite
def answer_facts(draw: st.DrawFn) -> AnswerFact:
    question = draw(st.sampled_from(["Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q8", "Q9"]))
    q = PROTOCOL.questions[question]
    value = draw(st.integers(0, q.max_value).filter(lambda v: is_valid_code(q, v)))
    session = draw(st.integers(1, 3))
    hours = draw(st.floats(0.5, 200, allow_nan=False).map(lambda h: round(h, 2)))
    start = T0 + timedelta(days=7 * (session - 1))
    return AnswerFact(
        checkin_key=draw(st.sampled_from(CHECKINS)),
        question_key=question,
        value=value,
        answered_at=start + timedelta(hours=hours),
        session_number=session,
        hours_after_session=hours,
    )


@settings(max_examples=300, deadline=None)
@given(
    answer=answer_facts(),
    history=st.lists(answer_facts(), max_size=12),
    tags=st.sampled_from([TRUNK_ONLY, LOWER_ONLY, frozenset({TRUNK, LOWER}), frozenset()]),
    baseline=st.integers(0, 10),
)
def test_triage_properties(
    answer: AnswerFact, history: list[AnswerFact], tags: frozenset[str], baseline: int
) -> None:
    findings = run(answer, history, tags=tags, baseline=baseline)
    tiers = {f.tier for f in findings}
    # "without the above": never a callback beside an URGENT for the same answer
    assert not (Tier.URGENT in tiers and Tier.URGENT_CALLBACK in tiers)
    # deterministic, and independent of the order history is given in
    assert run(answer, list(reversed(history)), tags=tags, baseline=baseline) == findings
    assert run(answer, sorted(history, key=repr), tags=tags, baseline=baseline) == findings
    # answers given later than this one change nothing
    known = [f for f in history if f.answered_at <= answer.answered_at]
    assert run(answer, known, tags=tags, baseline=baseline) == findings
    assert len(set(keys(findings))) == len(findings)
    for found in findings:
        assert found.stops_checkin == (found.tier is Tier.URGENT)
        assert found.reason_key in {r.value for r in Reason}
        assert found.reasons and all(found.reasons)
        # every finding of an answer names the numbers: a score, hours or a session
        assert re.search(r"\d", " ".join(found.reasons)), found
    # a finding is sorted most severe first
    assert [f.tier for f in findings] == sorted((f.tier for f in findings), reverse=True)
