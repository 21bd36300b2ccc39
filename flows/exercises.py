"""Which of a patient's exercises a given day's reminder lists.

The planner says *when* a reminder goes out; this says *what* it lists, so the
needling-day rule (walking and gentle movement only) and the strength-days
rule (default Mon/Wed/Fri) are decided by the protocol, not by the bot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, timedelta

from flows.protocol import DOSE_MAX, SETS_MAX, Dosage, Exercise, Protocol
from flows.text import Text
from flows.triage import Finding, Reason, Tier


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


def dose_step(dosage: Dosage, up: bool) -> Dosage | None:
    """One step up or down of the amount (reps, seconds or minutes), or None at the bound:
    never below one step, never above the unit's maximum."""
    amount = dosage.amount + (dosage.step if up else -dosage.step)
    if amount < dosage.step or amount > DOSE_MAX[dosage.unit]:
        return None
    return replace(dosage, amount=amount)


_TYPED = re.compile(
    r"\s*(?:(?P<sets>\d{1,2})\s*[x×*]\s*)?(?P<amount>\d{1,3})\s*"
    r"(?P<unit>s|sec|secs|seconds?|min|mins|minutes?|reps?)?\s*",
    re.IGNORECASE,
)


def parse_dose(typed: str, dosage: Dosage) -> Dosage | None:
    """A therapist's typed dosage ("3x12", "2 × 30 s", "25 min", "12") on `dosage`'s unit,
    or None when it cannot be read or is out of range. The sets stay as they were when
    only an amount is typed; a unit that is not the exercise's own is refused."""
    match = _TYPED.fullmatch(typed)
    if match is None:
        return None
    unit = (match.group("unit") or "").lower()
    if unit and not (
        (unit.startswith("s") and dosage.unit == "seconds")
        or (unit.startswith("m") and dosage.unit == "minutes")
        or (unit.startswith("r") and dosage.unit == "reps")
    ):
        return None
    sets = int(match.group("sets")) if match.group("sets") else dosage.sets
    amount = int(match.group("amount"))
    if not 1 <= sets <= SETS_MAX or not 1 <= amount <= DOSE_MAX[dosage.unit]:
        return None
    return replace(dosage, sets=sets, amount=amount)


def progression(protocol: Protocol, key: str) -> Exercise | None:
    """The exercise `key` progresses to, if the library has one."""
    following = protocol.exercises[key].next
    return None if following is None else protocol.exercises[following]


def painful_findings(
    protocol: Protocol, painful: Mapping[str, Iterable[date]], exercise: str, today: date
) -> list[Finding]:
    """The findings of a "Too painful" tap on `exercise` (for `today`), from the days each
    exercise was reported painful: ROUTINE for the digest, listing every exercise painful
    in the window; SOON when `exercise` was painful on painful_soon_days days of it."""
    plan = protocol.exercise_plan
    since = today - timedelta(days=plan.painful_window_days - 1)
    recent = {
        key: sorted({d for d in days if since <= d <= today}) for key, days in painful.items()
    }
    recent = {key: days for key, days in recent.items() if days and key in protocol.exercises}
    if exercise not in recent:
        return []

    def line(key: str) -> str:
        days = ", ".join(f"{d:%d/%m}" for d in recent[key])
        return f"exercise too painful: {protocol.exercises[key].name.get('en')} ({days})"

    def told(key: str) -> dict[str, object]:  # the card writes it in the reader's language
        return {
            "name": dict(protocol.exercises[key].name.items),
            "days": [d.isoformat() for d in recent[key]],
        }

    findings = [
        Finding(
            tier=Tier.ROUTINE,
            reason_key=Reason.EXERCISE_PAINFUL,
            reasons=tuple(line(key) for key in recent),
            stops_checkin=False,
            fact={
                "reason": Reason.EXERCISE_PAINFUL.value,
                "exercises": [told(key) for key in recent],
            },
        )
    ]
    if len(recent[exercise]) >= plan.painful_soon_days:
        findings.append(
            Finding(
                tier=Tier.SOON,
                reason_key=Reason.EXERCISE_PAINFUL_REPEATED,
                reasons=(
                    f"{line(exercise)}: {len(recent[exercise])} days in "
                    f"{plan.painful_window_days} — review the exercise",
                ),
                stops_checkin=False,
                fact={
                    "reason": Reason.EXERCISE_PAINFUL_REPEATED.value,
                    "window": plan.painful_window_days,
                    **told(exercise),
                },
            )
        )
    return findings
