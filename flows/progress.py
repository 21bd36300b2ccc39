"""Progress rules of clinical.md: responder, stall, re-evaluate, plateau, recovered.

Judged only on the weekly usual-pain readings (Q2, "P") taken at least
progress_min_hours_after_session (72 h) after the last session, because
post-needling soreness masks benefit for about 48 h; earlier readings are
dropped here, so a caller may pass every weekly Q2 it has. B is the baseline
Q2 at enrollment. Every number comes from `protocol.progress`.

The findings go to the therapist's daily digest (ROUTINE) or the same-day list
(SOON, re-evaluate); they are flags for a human, not decisions. Readings of
clinical.md that a clinician must confirm are marked "Reading:" below and
listed in `AMBIGUOUS_READINGS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from flows.protocol import Protocol
from flows.triage import Finding, Reason, Tier

__all__ = [
    "AMBIGUOUS_READINGS",
    "CourseFacts",
    "Reading",
    "adherence_unreported",
    "at_judging_point",
    "is_responder",
    "progress_findings",
    "valid_readings",
]

#: The global-change question whose choice index is q8_latest (see [progress] stall_q8_min).
GLOBAL_CHANGE_QUESTION = "Q8"


@dataclass(frozen=True)
class Reading:
    """One weekly Q2 answer: when, the 0–10 value, and hours since the last session before it."""

    at: datetime
    value: int
    hours_after_last_session: float


@dataclass(frozen=True)
class CourseFacts:
    """What the progress rules need about one patient's course.

    readings: weekly Q2, oldest first (re-sorted by time anyway). sessions:
    sessions given so far. weeks_since_start: since the first session.
    q7_best_change: the largest improvement of any Q7 activity over its first
    rating (None: no activities or no second rating). q8_latest: the latest Q8
    answer as its stored choice index, worst (0) to best (None: not answered).
    """

    baseline: int
    readings: Sequence[Reading]
    sessions: int
    weeks_since_start: float
    q7_best_change: int | None
    q8_latest: int | None


#: Readings of clinical.md a clinician must review (also in the docstrings below).
AMBIGUOUS_READINGS: tuple[str, ...] = (
    "P is the latest weekly Q2 taken ≥ 72 h after the last session; with no such reading, "
    "no progress verdict is made (missing data is not non-response), but from the stall or "
    "re-evaluate point on, ROUTINE 'no usable progress reading' is raised instead.",
    "Stall applies from the later of session 4 and week 3 onwards (not only at that moment); "
    "the store keeps one open alert per reason, so it is not repeated while open.",
    "Stall is not raised when re-evaluate is (re-evaluate is the stronger flag for the same "
    "patient).",
    "'Without responder status' = the latest P is not a responder (a patient who responded "
    "and relapsed counts), and a recovered P (≤ 1) is never treated as non-response.",
    "P ≥ B + 2 'on two consecutive weekly readings' = the last two readings that count "
    "(readings < 72 h after a session are skipped, not breaks).",
    "Plateau: 'moved < 1 point over 3 weekly readings' = the net change |last − first| of the "
    "last 3 readings < 1 (4, 3, 4 is a plateau; clinical.md second review); judged on the "
    "latest P > 2.",
    "Q8 'much better or better' = index of stall_q8_min ('much_better') or above.",
)


def is_responder(protocol: Protocol, baseline: int, p: int) -> bool:
    """Whether P is a meaningful improvement on B: B − P ≥ 2 points and ≥ 30% of B.

    Both parts, because 2 points is little for a high baseline and 30% is
    little for a low one (Farrar 2001). The fraction is taken as the decimal
    the clinic wrote, so B = 10, P = 7 (exactly 30%) is a responder.
    """
    rule = protocol.progress
    drop = baseline - p
    return drop >= rule.responder_drop and drop >= _fraction(rule.responder_fraction) * baseline


def valid_readings(protocol: Protocol, readings: Sequence[Reading]) -> list[Reading]:
    """The readings that count, oldest first: those ≥ progress_min_hours_after_session."""
    least = protocol.progress.progress_min_hours_after_session
    return sorted((r for r in readings if r.hours_after_last_session >= least), key=lambda r: r.at)


def progress_findings(protocol: Protocol, facts: CourseFacts) -> list[Finding]:
    """The progress flags for the course as it stands, most severe first.

    Order: re-evaluate (SOON), stall, plateau, recovered (ROUTINE). When no reading
    counts, there is no verdict: [] before the stall or re-evaluate point, and from
    that point on ROUTINE "no usable progress reading" (a course judged on nothing
    must not pass silently).
    """
    readings = valid_readings(protocol, facts.readings)
    if not readings:
        return [_no_reading(protocol, facts)] if at_judging_point(protocol, facts) else []
    rule = protocol.progress
    p = readings[-1].value
    responder = is_responder(protocol, facts.baseline, p)
    recovered = p <= rule.recovered_max
    status = _status_words(protocol, facts.baseline, readings[-1], responder)
    first = _reevaluate(protocol, facts, readings, responder, recovered, status)
    if first is None:  # re-evaluate is the stronger flag for the same patient
        first = _stall(protocol, facts, responder, recovered, status)
    plateau = _plateau(protocol, readings, status) if responder else None
    return [
        f
        for f in (first, plateau, _recovered(protocol, facts, p) if recovered else None)
        if f is not None
    ]


def _no_reading(protocol: Protocol, facts: CourseFacts) -> Finding:
    """ROUTINE: the course is at its judging point, and no reading counts."""
    return _finding(
        Tier.ROUTINE,
        Reason.NO_PROGRESS_READING,
        f"No weekly usual-pain reading taken at least "
        f"{protocol.progress.progress_min_hours_after_session:g} h after a session, "
        f"at session {facts.sessions}, week {_weeks(facts.weeks_since_start)}",
        "Progress cannot be judged: ask for a usual-pain rating",
        fact={"sessions": facts.sessions},
    )


def _plateau(protocol: Protocol, readings: Sequence[Reading], status: str) -> Finding | None:
    """ROUTINE, for a responder still above the floor: the last weekly readings have not
    moved (net change: 4, 3, 4 has not moved)."""
    rule = protocol.progress
    last = readings[-rule.plateau_readings :]
    if len(last) < rule.plateau_readings or last[-1].value <= rule.plateau_floor:
        return None
    values = [r.value for r in last]
    moved = abs(values[-1] - values[0])
    if moved >= rule.plateau_move:
        return None
    return _finding(
        Tier.ROUTINE,
        Reason.PLATEAU,
        status,
        f"Usual pain over the last {len(values)} weekly readings: "
        f"{_series(values)} (moved {moved}, flag below {rule.plateau_move}; "
        f"still above {rule.plateau_floor}/10)",
        "Improving, but no longer changing: review the plan",
        fact={"values": values},
    )


def _recovered(protocol: Protocol, facts: CourseFacts, p: int) -> Finding:
    """ROUTINE: usual pain at the recovered level or below."""
    rule = protocol.progress
    return _finding(
        Tier.ROUTINE,
        Reason.RECOVERED,
        f"Usual pain {p}/10 (recovered at {rule.recovered_max}/10 or less), "
        f"baseline {facts.baseline}, after {facts.sessions} sessions",
        "Consider spacing sessions or discharge",
        fact={"last": p, "baseline": facts.baseline, "sessions": facts.sessions},
    )


def at_judging_point(protocol: Protocol, facts: CourseFacts) -> bool:
    """Whether the course has reached the stall point (the later of session N and week W)
    or the re-evaluate point (N sessions or W weeks), where progress must be judged."""
    rule = protocol.progress
    stall = facts.sessions >= rule.stall_session and facts.weeks_since_start >= rule.stall_week
    reevaluate = (
        facts.sessions >= rule.reevaluate_sessions
        or facts.weeks_since_start >= rule.reevaluate_weeks
    )
    return stall or reevaluate


def adherence_unreported(protocol: Protocol, unanswered_weeks: int) -> Finding | None:
    """ROUTINE "adherence not reported": the last `unanswered_weeks` weekly adherence
    questions (Q9), in a row, closed without an answer, reaching the protocol's number."""
    weeks = protocol.progress.adherence_unreported_weeks
    if unanswered_weeks < weeks:
        return None
    return _finding(
        Tier.ROUTINE,
        Reason.ADHERENCE_NOT_REPORTED,
        f"Exercise days (Q9) not reported for {unanswered_weeks} weeks in a row "
        f"(flag from {weeks})",
        "Ask about the home exercises at the next visit",
        fact={"weeks": unanswered_weeks},
    )


def _reevaluate(
    protocol: Protocol,
    facts: CourseFacts,
    readings: Sequence[Reading],
    responder: bool,
    recovered: bool,
    status: str,
) -> Finding | None:
    """SOON: no response after enough sessions or weeks, or pain clearly above baseline twice."""
    rule = protocol.progress
    b = facts.baseline
    reasons: list[str] = []
    long_enough = (
        facts.sessions >= rule.reevaluate_sessions
        or facts.weeks_since_start >= rule.reevaluate_weeks
    )
    if long_enough and not responder and not recovered:
        reasons.append(
            f"{status} after {facts.sessions} sessions and {_weeks(facts.weeks_since_start)} "
            f"weeks (re-evaluate from {rule.reevaluate_sessions} sessions or "
            f"{rule.reevaluate_weeks} weeks)"
        )
    last = readings[-rule.reevaluate_consecutive :]
    limit = b + rule.reevaluate_rise
    if len(last) == rule.reevaluate_consecutive and all(r.value >= limit for r in last):
        reasons.append(
            f"Usual pain {_series([r.value for r in last])} on the last {len(last)} weekly "
            f"readings, baseline {b}: at or above baseline +{rule.reevaluate_rise} ({limit}/10)"
        )
    if not reasons:
        return None
    return _finding(
        Tier.SOON,
        Reason.REEVALUATE,
        *reasons,
        "Re-evaluate the diagnosis and plan",
        fact={"last": readings[-1].value, "baseline": b, "sessions": facts.sessions},
    )


def _stall(
    protocol: Protocol, facts: CourseFacts, responder: bool, recovered: bool, status: str
) -> Finding | None:
    """ROUTINE: by the later of session 4 and week 3, no sign of benefit on any measure."""
    rule = protocol.progress
    if facts.sessions < rule.stall_session or facts.weeks_since_start < rule.stall_week:
        return None
    if responder or recovered:
        return None
    q7 = facts.q7_best_change
    if q7 is not None and q7 >= rule.stall_q7_gain:
        return None
    q8_min = protocol.questions[GLOBAL_CHANGE_QUESTION].choice_index(rule.stall_q8_min)
    q8 = facts.q8_latest
    if q8 is not None and q8 >= q8_min:
        return None
    q7_words = (
        f"Best activity (Q7) change {q7:+d} (counts from +{rule.stall_q7_gain})"
        if q7 is not None
        else "No activity (Q7) change recorded"
    )
    q8_words = (
        f"Global change (Q8): {_q8_words(protocol, q8)} (counts from {_q8_words(protocol, q8_min)})"
        if q8 is not None
        else "Global change (Q8) not answered"
    )
    return _finding(
        Tier.ROUTINE,
        Reason.STALL,
        f"{status} at session {facts.sessions}, week {_weeks(facts.weeks_since_start)} "
        f"(judged from session {rule.stall_session} and week {rule.stall_week})",
        q7_words,
        q8_words,
        "Review the plan",
        fact={
            "last": max(facts.readings, key=lambda r: r.at).value if facts.readings else None,
            "baseline": facts.baseline,
            "sessions": facts.sessions,
        },
    )


# -- helpers -----------------------------------------------------------------------------


def _finding(
    tier: Tier, reason: Reason, *reasons: str, fact: dict[str, Any] | None = None
) -> Finding:
    return Finding(
        tier,
        reason.value,
        tuple(reasons),
        stops_checkin=tier is Tier.URGENT,
        fact={"reason": reason.value, **(fact or {})},
    )


def _fraction(value: float) -> Fraction:
    """The decimal the clinic wrote (0.30 → 3/10), free of binary rounding."""
    return Fraction(repr(value))


def _status_words(protocol: Protocol, b: int, latest: Reading, responder: bool) -> str:
    """'Usual pain 6/10 vs baseline 7 (-1, -14%): not a responder (a responder drops …)'."""
    rule = protocol.progress
    p = latest.value
    drop = b - p
    share = f", {100 * (p - b) / b:+.0f}%" if b > 0 else ""
    verdict = "a responder" if responder else "not a responder"
    return (
        f"Usual pain {p}/10 vs baseline {b} ({-drop:+d}{share}): {verdict} "
        f"(a responder drops at least {rule.responder_drop} points and "
        f"{float(_fraction(rule.responder_fraction)) * 100:g}% from baseline)"
    )


def _q8_words(protocol: Protocol, index: int) -> str:
    choices = protocol.questions[GLOBAL_CHANGE_QUESTION].choices
    if 0 <= index < len(choices):
        return choices[index].key.replace("_", " ")
    return f"answer {index}"


def _series(values: Sequence[int]) -> str:
    return ", ".join(f"{v}/10" for v in values)


def _weeks(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"
