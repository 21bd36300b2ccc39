"""What an exercise reminder lists on a given day."""

from __future__ import annotations

from datetime import date

from flows.exercises import check_picks, exercises_for_day, reminder_text
from flows.loader import load_protocol

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
