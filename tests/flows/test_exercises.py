"""What an exercise reminder lists on a given day."""

from __future__ import annotations

from datetime import date

from flows.exercises import (
    check_picks,
    dose_step,
    exercises_for_day,
    parse_dose,
    progression,
    reminder_text,
)
from flows.loader import load_protocol
from flows.protocol import Dosage

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
