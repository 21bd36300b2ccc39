"""What an exercise reminder lists on a given day."""

from __future__ import annotations

from datetime import date, timedelta

from flows.exercises import (
    check_picks,
    dose_step,
    exercises_for_day,
    painful_findings,
    parse_dose,
    progression,
    reminder_text,
)
from flows.loader import load_protocol
from flows.protocol import Dosage
from flows.triage import Reason, Tier

PROTOCOL = load_protocol()
PICKED = ("piriformis_stretch", "clamshell", "glute_bridge", "hamstring_stretch")
MONDAY, TUESDAY = date(2026, 2, 2), date(2026, 2, 3)


def test_strength_on_mon_wed_fri_stretches_daily() -> None:
    monday = [e.key for e in exercises_for_day(PROTOCOL, PICKED, MONDAY, needling_day=False)]
    assert monday == list(PICKED)
    tuesday = [e.key for e in exercises_for_day(PROTOCOL, PICKED, TUESDAY, needling_day=False)]
    assert tuesday == ["piriformis_stretch", "hamstring_stretch"]


def test_needling_day_is_walking_only() -> None:
    assert exercises_for_day(PROTOCOL, PICKED, MONDAY, needling_day=True) == ()
    text = reminder_text(PROTOCOL, needling_day=True)
    assert "walk" in text.get("en") and "camine" in text.get("es")
    assert reminder_text(PROTOCOL, needling_day=False) == PROTOCOL.exercise_plan.reminder


def test_check_picks() -> None:
    assert check_picks(PROTOCOL, PICKED) == []
    assert check_picks(PROTOCOL, PICKED[:2]) == ["pick 3–5 exercises, not 2"]
    assert check_picks(PROTOCOL, (*PICKED[:2], "yoga")) == ["unknown exercise 'yoga'"]
    assert check_picks(PROTOCOL, (*PICKED[:2], "clamshell")) == ["an exercise is picked twice"]


def test_dose_steps_by_the_exercise_step_within_bounds() -> None:
    bridge = PROTOCOL.exercises["glute_bridge"].dosage  # 2 × 10 reps, step 2
    assert dose_step(bridge, up=True) == Dosage(sets=2, amount=12, unit="reps")
    assert dose_step(bridge, up=False) == Dosage(sets=2, amount=8, unit="reps")
    assert dose_step(Dosage(sets=2, amount=2, unit="reps"), up=False) is None  # not below a step
    assert dose_step(Dosage(sets=2, amount=50, unit="reps"), up=True) is None  # the maximum
    breaks = PROTOCOL.exercises["sitting_breaks"].dosage  # 8 × 2 min, step 1
    assert dose_step(breaks, up=False) == Dosage(sets=8, amount=1, unit="minutes", step=1)
    assert dose_step(dose_step(breaks, up=False), up=False) is None  # type: ignore[arg-type]


def test_typed_dosage_on_the_exercise_unit() -> None:
    hold = PROTOCOL.exercises["piriformis_stretch"].dosage  # 2 × 30 s each side
    assert parse_dose("3x45", hold) == Dosage(
        sets=3, amount=45, unit="seconds", each_side=True, step=5
    )
    assert parse_dose(" 3 × 40 s ", hold) == Dosage(
        sets=3, amount=40, unit="seconds", each_side=True, step=5
    )
    assert parse_dose("20", hold) == Dosage(
        sets=2, amount=20, unit="seconds", each_side=True, step=5
    )
    walk = PROTOCOL.exercises["walking"].dosage
    assert parse_dose("25 min", walk) == Dosage(sets=1, amount=25, unit="minutes", step=5)
    # the wrong unit, out of range, or words: refused
    assert parse_dose("25 min", hold) is None
    assert parse_dose("3x301", hold) is None
    assert parse_dose("11x30", hold) is None
    assert parse_dose("0x30", hold) is None
    assert parse_dose("a lot", hold) is None
    assert parse_dose("", hold) is None


def test_progression_follows_next() -> None:
    assert progression(PROTOCOL, "glute_bridge") == PROTOCOL.exercises["single_leg_bridge"]
    assert progression(PROTOCOL, "single_leg_bridge") is None


def test_too_painful_once_is_routine_twice_in_the_window_is_soon() -> None:
    today = date(2026, 2, 10)
    once = painful_findings(PROTOCOL, {"glute_bridge": [today]}, "glute_bridge", today)
    assert [(f.tier, f.reason_key) for f in once] == [(Tier.ROUTINE, Reason.EXERCISE_PAINFUL)]
    assert once[0].reasons == ("exercise too painful: Glute bridge (10/02)",)
    # the same day twice is one day
    assert (
        len(painful_findings(PROTOCOL, {"glute_bridge": [today, today]}, "glute_bridge", today))
        == 1
    )
    # day 1 and day 7 of the window: SOON; day 0 (8 days back) is outside it
    inside = {"glute_bridge": [today - timedelta(days=6), today], "clamshell": [today]}
    twice = painful_findings(PROTOCOL, inside, "glute_bridge", today)
    assert [(f.tier, f.reason_key) for f in twice] == [
        (Tier.ROUTINE, Reason.EXERCISE_PAINFUL),
        (Tier.SOON, Reason.EXERCISE_PAINFUL_REPEATED),
    ]
    assert twice[0].reasons == (
        "exercise too painful: Glute bridge (04/02, 10/02)",
        "exercise too painful: Clamshell (10/02)",
    )
    assert twice[1].reasons == (
        "exercise too painful: Glute bridge (04/02, 10/02): 2 days in 7 — review the exercise",
    )
    outside = {"glute_bridge": [today - timedelta(days=7), today]}
    assert [f.tier for f in painful_findings(PROTOCOL, outside, "glute_bridge", today)] == [
        Tier.ROUTINE
    ]
    # another exercise's pain does not make this one SOON
    assert [f.tier for f in painful_findings(PROTOCOL, inside, "clamshell", today)] == [
        Tier.ROUTINE
    ]
