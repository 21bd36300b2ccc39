"""Conditions: when a check-in is sent, when a question is asked, when a text is shown.

A condition is data so that a clinic can change "ask the 72 h check-in only if
soreness was ≥ 4 at 48 h" in its protocol file. The vocabulary is deliberately
small — region tag, patient fact, an earlier answer compared with a number, a
set of choices or the baseline — because every rule a clinician signs off must
be readable by that clinician.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from flows.context import PatientContext

TestKind = Literal["at_least", "at_most", "one_of", "none_of", "baseline_plus"]


@dataclass(frozen=True)
class ValueTest:
    """A test on one stored answer value.

    at_least / at_most: value ≥ / ≤ number. one_of / none_of: the value (a
    choice index or yes=1/no=0) is / is not in `values`. baseline_plus: value ≥
    the patient's baseline + number (Q2 rising above the enrollment pain).
    """

    kind: TestKind
    number: int = 0
    values: frozenset[int] = frozenset()

    def holds(self, value: int, baseline: int) -> bool:
        if self.kind == "at_least":
            return value >= self.number
        if self.kind == "at_most":
            return value <= self.number
        if self.kind == "one_of":
            return value in self.values
        if self.kind == "none_of":
            return value not in self.values
        return value >= baseline + self.number


@dataclass(frozen=True)
class RegionIs:
    """A region with this tag (TRUNK / LOWER) was needled in the session.

    within_hours: instead, in ANY session of the patient that ended at most this many
    hours before the check-in is asked (the /symptom check-in asks Q5 when a TRUNK
    session ended in the last 72 h, whichever session it was).
    """

    tag: str
    within_hours: float | None = None

    def holds(self, ctx: PatientContext) -> bool:
        if self.within_hours is None:
            return self.tag in ctx.region_tags
        age = ctx.recent_tags.get(self.tag)
        return age is not None and 0 <= age <= self.within_hours


@dataclass(frozen=True)
class PatientHas:
    """A patient fact holds (flows.context.PATIENT_FACTS)."""

    fact: str


@dataclass(frozen=True)
class AnswerIs:
    """An earlier answer of this session passes a test.

    at: the check-in keys to look in. The loader expands "any earlier check-in"
    into the explicit keys, so evaluation never needs the protocol. A missing
    answer (not asked, not answered) never satisfies the condition: silence is
    handled by the missed-check-in rule, not by guessing.
    """

    question: str
    at: tuple[str, ...]
    test: ValueTest

    def holds(self, earlier: Mapping[tuple[str, str], int], baseline: int) -> bool:
        for checkin_key in self.at:
            value = earlier.get((checkin_key, self.question))
            if value is not None and self.test.holds(value, baseline):
                return True
        return False


Condition = RegionIs | PatientHas | AnswerIs


@dataclass(frozen=True)
class Guard:
    """`any_of` (at least one holds, or empty) AND `all_of` (every one holds).

    An empty guard always passes.
    """

    any_of: tuple[Condition, ...] = ()
    all_of: tuple[Condition, ...] = ()

    def __bool__(self) -> bool:
        """True when the guard has conditions at all (a "conditional" item)."""
        return bool(self.any_of or self.all_of)


ALWAYS = Guard()


def condition_holds(condition: Condition, ctx: PatientContext) -> bool:
    """Evaluate one condition for a patient."""
    if isinstance(condition, RegionIs):
        return condition.holds(ctx)
    if isinstance(condition, PatientHas):
        return ctx.has(condition.fact)
    return condition.holds(ctx.earlier, ctx.baseline)


def guard_passes(guard: Guard, ctx: PatientContext) -> bool:
    """Evaluate a guard for a patient."""
    if guard.any_of and not any(condition_holds(c, ctx) for c in guard.any_of):
        return False
    return all(condition_holds(c, ctx) for c in guard.all_of)
