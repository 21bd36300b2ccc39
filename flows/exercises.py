"""Which of a patient's exercises a given day's reminder lists.

The planner says *when* a reminder goes out; this says *what* it lists, so the
needling-day rule (walking and gentle movement only) and the strength-days
rule (default Mon/Wed/Fri) are decided by the protocol, not by the bot.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from flows.protocol import Exercise, Protocol
from flows.text import Text


def exercises_for_day(
    protocol: Protocol, chosen: Iterable[str], day: date, *, needling_day: bool
) -> tuple[Exercise, ...]:
    """The chosen exercises scheduled on `day`'s weekday; none on a needling day.

    Unknown exercise keys raise KeyError: a plan referring to an exercise the
    protocol no longer has must be noticed, not silently shortened.
    """
    exercises = [protocol.exercises[key] for key in chosen]
    if needling_day:
        return ()
    return tuple(ex for ex in exercises if day.weekday() in ex.days)


def reminder_text(protocol: Protocol, *, needling_day: bool) -> Text:
    """The reminder's lead text: the needling-day advice, or the usual prompt."""
    plan = protocol.exercise_plan
    return plan.needling_day if needling_day else plan.reminder


def check_picks(protocol: Protocol, chosen: Iterable[str]) -> list[str]:
    """Problems with a therapist's pick of exercises (empty when it is fine).

    The protocol says how many to pick (3–5 by default); keys must exist and
    not repeat. Returned, not raised, so staff can be shown all of them.
    """
    keys = list(chosen)
    problems = [f"unknown exercise {key!r}" for key in keys if key not in protocol.exercises]
    if len(set(keys)) != len(keys):
        problems.append("an exercise is picked twice")
    plan = protocol.exercise_plan
    if not plan.picks_min <= len(keys) <= plan.picks_max:
        problems.append(f"pick {plan.picks_min}–{plan.picks_max} exercises, not {len(keys)}")
    return problems
