"""Alert triage: clinical.md's alert-tier table as pure functions.

Data in, decisions out. Each function takes plain facts (answers with their
times, counts of missed check-ins, weekly exercise counts) and returns
`Finding`s: a tier, a stable reason key (one open alert per patient and reason
key, so repeats are deduplicated by the store) and plain-English reasons with
the numbers, written for the therapist who reads the alert.

Every number comes from `protocol.triage`; the rules themselves are code
because they combine answers across check-ins in ways a table of tests cannot
express. What is *fixed* here is the meaning of the bank's questions and choice
keys (Q1 soreness, Q3 "spreading_redness", Q4 "fainted", …) and the keys of the
after-session check-ins the Q1 rules are tied to (h24, h48, h72): they are
stored with every answer and never renamed (see flows.protocol.Question).

Readings of clinical.md that a clinician must confirm are marked "Reading:"
in the docstrings below and listed in `AMBIGUOUS_READINGS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from itertools import pairwise
from typing import Any

from flows.answers import decode_answer
from flows.context import TRUNK, PatientContext
from flows.protocol import AfterSession, Protocol

__all__ = [
    "AMBIGUOUS_READINGS",
    "AnswerFact",
    "Finding",
    "Reason",
    "SessionFact",
    "Tier",
    "highest",
    "triage_adherence",
    "triage_answer",
    "triage_patient_message",
    "triage_silence",
]


class Tier(StrEnum):
    """Alert tiers of clinical.md, declared from most to least severe.

    A StrEnum so the value can be stored as is (alert.tier). Comparisons
    between tiers follow severity, not the alphabet: `Tier.URGENT > Tier.SOON`
    and `max(tiers)` is the most severe; comparing with a plain string falls
    back to str ordering, so compare tiers with tiers.
    """

    URGENT = "urgent"
    URGENT_CALLBACK = "urgent_callback"
    SOON = "soon"
    ROUTINE = "routine"

    @property
    def severity(self) -> int:
        """Higher is more severe (ROUTINE = 1 … URGENT = 4)."""
        return len(_ORDER) - _ORDER.index(self)

    def __lt__(self, other: object) -> bool:
        if isinstance(other, Tier):
            return self.severity < other.severity
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, Tier):
            return self.severity <= other.severity
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, Tier):
            return self.severity > other.severity
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        if isinstance(other, Tier):
            return self.severity >= other.severity
        return NotImplemented


_ORDER: tuple[Tier, ...] = tuple(Tier)


class Reason(StrEnum):
    """Stable reason keys (stored as alert.reason_key; never rename one)."""

    Q5_CHEST_TRUNK = "q5_chest_trunk"
    Q6_CAUDA_EQUINA = "q6_cauda_equina"
    LEG_WEAKNESS = "leg_weakness"
    FAINTED = "fainted"
    FEVER_SPREADING_REDNESS = "fever_spreading_redness"
    BLEEDING = "bleeding"
    PAIN_9_10 = "pain_9_10"
    SITE_INFECTION_SIGNS = "site_infection_signs"
    FEVER = "fever"
    NUMBNESS_24H = "numbness_24h"
    Q1_HIGH_24H = "q1_high_24h"
    Q1_NOT_FALLING_48H = "q1_not_falling_48h"
    Q1_HIGH_72H = "q1_high_72h"
    Q2_ABOVE_BASELINE = "q2_above_baseline"
    MISSED_CHECKINS = "missed_checkins"
    PATIENT_MESSAGE = "patient_message"
    LOW_ADHERENCE = "low_adherence"
    STALL = "stall"
    REEVALUATE = "reevaluate"
    PLATEAU = "plateau"
    RECOVERED = "recovered"
    Q5_CHEST = "q5_chest"
    FELT_FAINT = "felt_faint"
    FEVER_SITE_SWELLING = "fever_site_swelling"
    Q1_HIGH_48H = "q1_high_48h"
    NO_PROGRESS_READING = "no_progress_reading"
    ADHERENCE_NOT_REPORTED = "adherence_not_reported"
    EXERCISE_PAINFUL = "exercise_painful"
    EXERCISE_PAINFUL_REPEATED = "exercise_painful_repeated"


@dataclass(frozen=True)
class AnswerFact:
    """One stored answer with the times triage needs.

    question_key may be a per-activity ref ("Q7.2"); value is the stored int
    (flows.answers). hours_after_session is measured from the end of session
    `session_number`, the session the check-in belongs to (weekly check-ins:
    the last session before the answer).
    """

    checkin_key: str
    question_key: str
    value: int
    answered_at: datetime
    session_number: int
    hours_after_session: float


@dataclass(frozen=True)
class SessionFact:
    """One needling session of the patient: its number, end and region tags (TRUNK, LOWER).

    Triage needs every session, not only the check-in's own: Q5 = Yes is URGENT
    within the trunk window of *any* TRUNK session.
    """

    number: int
    ended_at: datetime
    tags: frozenset[str]


@dataclass(frozen=True)
class Finding:
    """One triage decision.

    reason_key: stable, one of `Reason` (the store keeps one open alert per
    patient and reason). reasons: plain-English lines with the numbers and the rule behind
    them (kept with the alert; the card is written from `fact`). stops_checkin: URGENT
    only — the patient sees the emergency instruction and is asked nothing more in that
    check-in. emergency: the patient is shown the emergency text (every URGENT finding,
    and readings the protocol sends to the emergency text whatever the tier, such as Q5 =
    Yes outside the trunk window).
    advice: keys of the protocol's [advice] texts the patient is shown with the
    safety reply ("felt_faint": lie down, don't drive).
    """

    tier: Tier
    reason_key: str
    reasons: tuple[str, ...]
    stops_checkin: bool
    emergency: bool = False
    advice: tuple[str, ...] = ()
    # what was seen, as JSON-ready data ("reason" and its numbers): the bot writes the
    # therapist's sentence from it in the clinic's language (bot/alert_view.py)
    fact: dict[str, Any] = field(default_factory=dict, hash=False)


def highest(findings: Iterable[Finding]) -> Tier | None:
    """The most severe tier among the findings, or None when there are none."""
    tiers = [f.tier for f in findings]
    return max(tiers) if tiers else None


#: Readings of clinical.md a clinician must review (also in the module docstrings).
#: The second review ("Decisions on the edge cases") settled Q5 outside the trunk
#: window, near-faints, fever with site signs, numbness and Q1 at 48 h alone; what
#: it left open is below.
AMBIGUOUS_READINGS: tuple[str, ...] = (
    "'Within 72 h', '≥ 48 h', '≥ 24 h', 'within 7 days' are inclusive at the boundary "
    "(72.0 h is within).",
    "Q4 'fainted' counts as fainting after leaving the clinic (URGENT) at any check-in; "
    "'felt faint' with 'fainted' in the same answer gives only the faint.",
    "Q1 ≥ 7 at 48 h is SOON whatever the 24 h answer was (also when it was higher); "
    "below 7 the 'not lower than at 24 h and ≥ 4' rule still needs the 24 h answer.",
    "New numbness 'at any two check-ins' means two check-ins of the same session, with "
    "or without a 'nothing new' between them; 'at the 24 h check-in or later' means a "
    "check-in planned numbness_hours (24 h) or more after the session, or any answer "
    "given that long after it. Q4 does not ask about sides (both legs is Q6).",
    "Q1/Q2 = 9–10 is not raised as a callback when the same answer, or an earlier answer in "
    "the same sending of the same check-in, is URGENT; URGENT answers in other check-ins do "
    "not hide it.",
    "A callback (pain 9–10) does not hide the SOON findings of the same answer "
    "(e.g. Q2 = 9 at 48 h also gives q2_above_baseline); an URGENT finding does not hide "
    "the SOON findings of the same Q4 answer either (weakness and fever are both reported).",
    "Adherence: the last two answered weeks must be consecutive calendar weeks, each below "
    "50% of the planned days (strictly less).",
)


# -- question and choice keys (stable, see the module docstring) -------------------------

_Q1, _Q2, _Q3, _Q4, _Q5, _Q6 = "Q1", "Q2", "Q3", "Q4", "Q5", "Q6"
_H24, _H48, _H72 = "h24", "h48", "h72"

_SPREADING_REDNESS = "spreading_redness"
_SWELLING_OR_PUS = "swelling_or_pus"
_BLEEDING = "bleeding_wont_stop"
_NOTHING_NEW = "nothing_new"
_NUMBNESS = "numbness_tingling"
_LEG_WEAKNESS = "leg_weakness"
_FAINTED = "fainted"
_FELT_FAINT = "felt_faint"
_FEVER = "fever_chills"
_FAINT_ADVICE = "felt_faint"
_SITE_SIGNS = {_SPREADING_REDNESS, _SWELLING_OR_PUS}


# -- one answer --------------------------------------------------------------------------


def triage_answer(
    protocol: Protocol,
    *,
    answer: AnswerFact,
    ctx: PatientContext,
    history: Sequence[AnswerFact],
    session_regions_tags: frozenset[str],
    sessions: Sequence[SessionFact] = (),
) -> list[Finding]:
    """The immediate findings of one new answer, given the patient's earlier answers.

    history: this patient's earlier answers, all sessions, any order; answers
    given after `answer` (and `answer` itself, if included) are ignored, so the
    result depends only on what was known when the patient tapped.
    session_regions_tags: the region tags of session `answer.session_number`.
    sessions: every session of the patient (for Q5: *any* TRUNK session within
    the trunk window counts; the check-in's own session counts even when left out).
    ctx supplies the baseline for Q2.

    One answer may raise several findings (a multi Q4: weakness *and* fever);
    all are returned, URGENT first, then the callback, then SOON, each reason at
    most once.
    """
    earlier = _before(answer, history)
    facts = _Facts(session_regions_tags, tuple(sessions))
    findings = _urgent_findings(protocol, answer, earlier, facts)
    if not findings and not _urgent_earlier_in_checkin(protocol, answer, earlier, facts):
        findings += _callback_findings(protocol, answer, ctx)
    findings += _soon_findings(protocol, answer, ctx, earlier, facts)
    return findings


@dataclass(frozen=True)
class _Facts:
    """The sessions a one-answer rule may look at."""

    own_tags: frozenset[str]
    sessions: tuple[SessionFact, ...]

    def trunk_within(self, answer: AnswerFact, hours: float) -> SessionFact | None:
        """The latest TRUNK session that ended at most `hours` before the answer, if any."""
        own = SessionFact(
            answer.session_number,
            answer.answered_at - timedelta(hours=answer.hours_after_session),
            self.own_tags,
        )
        found: SessionFact | None = None
        for session in (own, *self.sessions):
            since = (answer.answered_at - session.ended_at).total_seconds() / 3600
            if TRUNK in session.tags and 0 <= since <= hours:
                if found is None or session.ended_at > found.ended_at:
                    found = session
        return found


def _urgent_findings(
    protocol: Protocol,
    answer: AnswerFact,
    earlier: Sequence[AnswerFact],
    facts: _Facts,
) -> list[Finding]:
    """URGENT triggers of the table: chest after TRUNK, cauda equina, Q4 red flags, Q3 bleeding,
    fever with site signs.

    Q5 = Yes is URGENT within trunk_window_hours (inclusive) of any TRUNK session
    (decision of the second review); outside it, it is SOON (see _soon_findings) —
    the patient sees the emergency text either way. Reading: "within 72 h"
    includes 72.0 h. Reading: a Q4 "fainted" is after leaving the clinic (every
    check-in is sent after the session); "felt faint (it has passed)" is SOON, and
    only the faint counts when both are ticked. Several Q4 choices give several findings.
    """
    t = protocol.triage
    bank = _bank_key(answer)
    when = _when(answer)
    if bank == _Q5 and answer.value == 1:
        trunk = facts.trunk_within(answer, t.trunk_window_hours)
        if trunk is None:
            return []
        since = _hours((answer.answered_at - trunk.ended_at).total_seconds() / 3600)
        return [
            _finding(
                Tier.URGENT,
                Reason.Q5_CHEST_TRUNK,
                "Chest pain, pain on a deep breath, shortness of breath or a new dry cough",
                f"Reported {when}; trunk region needled at session {trunk.number}, {since} "
                f"before (pneumothorax screen for {_hours(t.trunk_window_hours)})",
                fact=_at(
                    answer,
                    trunk=trunk.number,
                    since=(answer.answered_at - trunk.ended_at).total_seconds() / 3600,
                ),
            )
        ]
    if bank == _Q6 and answer.value == 1:
        return [
            _finding(
                Tier.URGENT,
                Reason.Q6_CAUDA_EQUINA,
                "Possible cauda equina signs: new saddle numbness, bladder or bowel change, "
                "or symptoms in both legs",
                f"Reported {when}",
                fact=_at(answer),
            )
        ]
    chosen = _choices(protocol, answer)
    found: list[Finding] = []
    if bank == _Q4:
        if _LEG_WEAKNESS in chosen:
            found.append(
                _finding(
                    Tier.URGENT,
                    Reason.LEG_WEAKNESS,
                    "New leg weakness or foot catching",
                    f"Reported {when}",
                    fact=_at(answer),
                )
            )
        if _FAINTED in chosen:
            found.append(
                _finding(
                    Tier.URGENT,
                    Reason.FAINTED,
                    "Fainted after leaving the clinic",
                    f"Reported {when}",
                    fact=_at(answer),
                )
            )
        if _FEVER in chosen:
            site = _paired(protocol, answer, earlier, _Q3, _SITE_SIGNS)
            if site is not None:
                found.append(_fever_with_site(protocol, fever=answer, site=site))
    if bank == _Q3 and chosen & _SITE_SIGNS:
        fever = _paired(protocol, answer, earlier, _Q4, {_FEVER})
        if fever is not None:
            found.append(_fever_with_site(protocol, fever=fever, site=answer))
    if bank == _Q3 and _BLEEDING in chosen:
        found.append(
            _finding(
                Tier.URGENT,
                Reason.BLEEDING,
                "Bleeding at a needle site that will not stop",
                f"Reported {when}",
                fact=_at(answer),
            )
        )
    return found


def _fever_with_site(protocol: Protocol, *, fever: AnswerFact, site: AnswerFact) -> Finding:
    """URGENT: fever with spreading redness, or with swelling or pus (systemic signs)."""
    gap = abs(_hours_between(fever, site))
    days = protocol.triage.fever_site_within_days
    window = f"{days:g} days"
    if _SPREADING_REDNESS in _choices(protocol, site):
        reason, words, site_words = (
            Reason.FEVER_SPREADING_REDNESS,
            "Fever or chills together with spreading redness or warmth at a needle site",
            "spreading redness",
        )
    else:
        reason, words, site_words = (
            Reason.FEVER_SITE_SWELLING,
            "Fever or chills together with swelling or pus at a needle site",
            "swelling or pus",
        )
    return _finding(
        Tier.URGENT,
        reason,
        words,
        f"Fever reported {_when(fever)}; {site_words} reported {_when(site)} "
        f"({_hours(gap)} apart; paired within {window} for the same session)",
        fact=_at(fever, site_hours=site.hours_after_session),
    )


def _urgent_earlier_in_checkin(
    protocol: Protocol, answer: AnswerFact, earlier: Sequence[AnswerFact], facts: _Facts
) -> bool:
    """Whether an earlier answer of the same check-in was URGENT ("without the above").

    An URGENT answer ends the check-in, so this only matters for an answer that
    arrives afterwards anyway (an old button).
    """
    for index, prior in enumerate(earlier):
        if not _same_checkin(protocol, prior, answer):
            continue
        if _urgent_findings(protocol, prior, earlier[:index], facts):
            return True
    return False


def _same_checkin(protocol: Protocol, a: AnswerFact, b: AnswerFact) -> bool:
    """Whether two answers belong to one sending of one check-in.

    An after-session check-in is sent once per session, so session and key
    identify it. A weekly one repeats within a session: its answers are one
    sending only when no further apart than the check-in's expiry (48 h; two
    sendings are days apart). Unknown keys and repeats without such an expiry
    count as different sendings — the conservative answer for both callers.
    """
    if (a.session_number, a.checkin_key) != (b.session_number, b.checkin_key):
        return False
    checkin = protocol.checkins.get(a.checkin_key)
    if checkin is None:
        return False
    if isinstance(checkin.schedule, AfterSession):
        return True
    limit = checkin.expiry.after
    return limit is not None and abs(a.answered_at - b.answered_at) <= limit


def _callback_findings(
    protocol: Protocol, answer: AnswerFact, ctx: PatientContext
) -> list[Finding]:
    """URGENT (callback): Q1 or Q2 at urgent_callback_min (9) or more."""
    t = protocol.triage
    bank = _bank_key(answer)
    if bank not in (_Q1, _Q2) or answer.value < t.urgent_callback_min:
        return []
    return [
        _finding(
            Tier.URGENT_CALLBACK,
            Reason.PAIN_9_10,
            f"{_score_words(answer, ctx)} (callback from {t.urgent_callback_min}/10)",
            f"Please call the patient back within {_hours(t.callback_within_hours)} "
            "in opening hours",
            fact=_score_fact(answer, ctx, within=t.callback_within_hours),
        )
    ]


def _soon_findings(
    protocol: Protocol,
    answer: AnswerFact,
    ctx: PatientContext,
    earlier: Sequence[AnswerFact],
    facts: _Facts,
) -> list[Finding]:
    """SOON triggers of one answer: Q5 outside the trunk window, site signs, fever alone,
    a near-faint, new numbness, Q1, Q2 rise."""
    t = protocol.triage
    bank = _bank_key(answer)
    when = _when(answer)
    found: list[Finding] = []
    chosen = _choices(protocol, answer)
    if bank == _Q5 and answer.value == 1:
        if facts.trunk_within(answer, t.trunk_window_hours) is None:
            found.append(
                _finding(
                    Tier.SOON,
                    Reason.Q5_CHEST,
                    "Chest pain, pain on a deep breath, shortness of breath or a new dry cough",
                    f"Reported {when}; no trunk region needled in the last "
                    f"{_hours(t.trunk_window_hours)} (the patient was shown the emergency text)",
                    emergency=True,
                    fact=_at(answer, window=t.trunk_window_hours),
                )
            )
    elif bank == _Q3:
        for choice in (c for c in (_SPREADING_REDNESS, _SWELLING_OR_PUS) if c in chosen):
            if _paired(protocol, answer, earlier, _Q4, {_FEVER}) is not None:
                continue  # URGENT with the fever
            words = (
                "Swelling or pus" if choice == _SWELLING_OR_PUS else "Spreading redness or warmth"
            )
            found.append(
                _finding(
                    Tier.SOON,
                    Reason.SITE_INFECTION_SIGNS,
                    f"{words} at a needle site, reported {when}",
                    "No fever or chills reported for this session",
                    fact=_at(answer, site=choice),
                )
            )
    elif bank == _Q4:
        if _FEVER in chosen and _paired(protocol, answer, earlier, _Q3, _SITE_SIGNS) is None:
            found.append(
                _finding(
                    Tier.SOON,
                    Reason.FEVER,
                    f"Fever or chills, reported {when}",
                    "No spreading redness, swelling or pus at the needle sites reported",
                    fact=_at(answer),
                )
            )
        if _FELT_FAINT in chosen and _FAINTED not in chosen:
            found.append(
                _finding(
                    Tier.SOON,
                    Reason.FELT_FAINT,
                    f"Felt faint (it has passed), reported {when}",
                    "The patient was advised to lie down and not to drive",
                    advice=(_FAINT_ADVICE,) if _FAINT_ADVICE in protocol.advice else (),
                    fact=_at(answer),
                )
            )
        if _NUMBNESS in chosen:
            numbness = _numbness_finding(protocol, answer, earlier)
            if numbness is not None:
                found.append(numbness)
    elif bank == _Q1:
        found += _q1_findings(protocol, answer, earlier)
    elif bank == _Q2:
        rise = answer.value - ctx.baseline
        if answer.hours_after_session >= t.baseline_rise_min_hours and rise >= t.baseline_rise:
            found.append(
                _finding(
                    Tier.SOON,
                    Reason.Q2_ABOVE_BASELINE,
                    _score_words(answer, ctx),
                    f"Alert from baseline +{t.baseline_rise} at "
                    f"{_hours(t.baseline_rise_min_hours)} or more after a session",
                    fact=_score_fact(answer, ctx),
                )
            )
    return found


def _numbness_finding(
    protocol: Protocol, answer: AnswerFact, earlier: Sequence[AnswerFact]
) -> Finding | None:
    """SOON: new numbness reported at the 24 h check-in or later, or at any two check-ins.

    "At the 24 h check-in or later": a session check-in planned numbness_hours
    (24 h) or more after the session — the 24 h check-in is moved into the next
    morning and may come sooner than 24 h — or any answer given at least that
    long after the session (an on-demand report). Reading: "any two check-ins"
    is an earlier numbness report at another check-in of the same session, with
    or without a "nothing new" in between.
    """
    t = protocol.triage
    checkin = protocol.checkins.get(answer.checkin_key)
    planned_late = (
        checkin is not None
        and isinstance(checkin.schedule, AfterSession)
        and checkin.schedule.offset >= timedelta(hours=t.numbness_hours)
    )
    late = planned_late or answer.hours_after_session >= t.numbness_hours
    first = next(
        (
            f
            for f in earlier
            if f.session_number == answer.session_number
            and _bank_key(f) == _Q4
            and _NUMBNESS in _choices(protocol, f)
            and not _same_checkin(protocol, f, answer)
        ),
        None,
    )
    if first is not None:
        return _finding(
            Tier.SOON,
            Reason.NUMBNESS_24H,
            "New numbness or tingling reported at two check-ins: "
            f"{_when(first)} and {_when(answer)}",
            f"Alert at the second report, or at a report {_hours(t.numbness_hours)} or more "
            "after the session",
            fact=_at(answer, first_hours=first.hours_after_session),
        )
    if late:
        return _finding(
            Tier.SOON,
            Reason.NUMBNESS_24H,
            f"New numbness or tingling reported {_when(answer)}",
            f"Alert when reported {_hours(t.numbness_hours)} or more after the session, "
            "or at two check-ins",
            fact=_at(answer),
        )
    return None


def _q1_findings(
    protocol: Protocol, answer: AnswerFact, earlier: Sequence[AnswerFact]
) -> list[Finding]:
    """Needle soreness that is high at 24 h or 48 h, not falling by 48 h, or still there at 72 h.

    Tied to the check-ins h24/h48/h72 rather than to elapsed hours, because the
    24 h check-in is moved into the next morning (it can be 12–35 h after the
    session). Reading: at 48 h, soon_q1_48h_alone (7) or more is SOON whatever
    the 24 h answer was (also a falling 9 → 7), or with none (decision of the second
    review); below it, "not lower than at 24 h and ≥ soon_q1_48h" needs a 24 h
    answer to compare with.
    """
    t = protocol.triage
    v = answer.value
    head = f"Needle-site soreness {v}/10 {_when(answer)}"
    if answer.checkin_key == _H24 and v >= t.soon_q1_24h:
        return [
            _finding(
                Tier.SOON,
                Reason.Q1_HIGH_24H,
                head,
                f"Alert from {t.soon_q1_24h}/10 at 24 h",
                fact=_at(answer, value=v),
            )
        ]
    if answer.checkin_key == _H48 and v >= t.soon_q1_48h:
        at_24 = _last(
            f
            for f in earlier
            if f.session_number == answer.session_number
            and f.checkin_key == _H24
            and _bank_key(f) == _Q1
        )
        if at_24 is not None and v >= at_24.value:
            return [
                _finding(
                    Tier.SOON,
                    Reason.Q1_NOT_FALLING_48H,
                    f"{head}, not lower than {at_24.value}/10 at 24 h",
                    f"Alert when not falling and {t.soon_q1_48h}/10 or more at 48 h",
                    fact=_at(answer, value=v, before=at_24.value),
                )
            ]
        if v >= t.soon_q1_48h_alone:
            before = f"{at_24.value}/10 at 24 h" if at_24 is not None else "no answer at 24 h"
            return [
                _finding(
                    Tier.SOON,
                    Reason.Q1_HIGH_48H,
                    f"{head} ({before})",
                    f"Alert from {t.soon_q1_48h_alone}/10 at 48 h",
                    fact=_at(answer, value=v, before=None if at_24 is None else at_24.value),
                )
            ]
    if answer.checkin_key == _H72 and v >= t.soon_q1_72h:
        return [
            _finding(
                Tier.SOON,
                Reason.Q1_HIGH_72H,
                head,
                f"Alert from {t.soon_q1_72h}/10 at 72 h",
                fact=_at(answer, value=v),
            )
        ]
    return []


def _paired(
    protocol: Protocol,
    answer: AnswerFact,
    earlier: Sequence[AnswerFact],
    question: str,
    choices: set[str],
) -> AnswerFact | None:
    """The latest earlier answer to `question` with one of `choices` that pairs with `answer`.

    Fever with site signs pairs when both are reported for the same session
    within fever_site_within_days (7) of each other, in any order (decision of
    the second review): Q4 is asked at 3 h and 24 h, Q3 at 24 h and 48 h, and
    an infection develops over days.
    """
    window = timedelta(days=protocol.triage.fever_site_within_days)
    for fact in reversed(earlier):
        if _bank_key(fact) != question or not _choices(protocol, fact) & choices:
            continue
        if fact.session_number != answer.session_number:
            continue
        if abs(answer.answered_at - fact.answered_at) <= window:
            return fact
    return None


# -- silence, free text, adherence ------------------------------------------------------


def triage_silence(
    protocol: Protocol, *, missed_consecutive: int, within_first_hours: bool
) -> Finding | None:
    """SOON when the patient left consecutive check-ins unanswered early after a session.

    missed_consecutive: check-ins in a row that expired unanswered after their
    one reminder. within_first_hours: whether they fell in the first
    missed_checkins_window_hours (48 h) after the session — the caller knows
    the due times; the rule is only about the count and the window.
    """
    t = protocol.triage
    if not within_first_hours or missed_consecutive < t.missed_consecutive:
        return None
    return _finding(
        Tier.SOON,
        Reason.MISSED_CHECKINS,
        f"No reply to {missed_consecutive} check-ins in a row in the first "
        f"{_hours(t.missed_checkins_window_hours)} after a session, one reminder each",
        f"Alert from {t.missed_consecutive} in a row",
        fact={"count": missed_consecutive},
    )


def triage_patient_message() -> Finding:
    """SOON: the patient tapped to pass their own words to the therapist.

    The words travel with the alert, not in the reasons: the bot does not try
    to diagnose from free text (clinical.md), so this is the same finding
    whatever was written.
    """
    return _finding(
        Tier.SOON,
        Reason.PATIENT_MESSAGE,
        "The patient asked to talk to you and passed on a message in their own words",
    )


def triage_adherence(
    protocol: Protocol, *, weekly_q9: Sequence[tuple[date, int]], planned_days_per_week: int
) -> Finding | None:
    """ROUTINE when exercises were done on too few of the planned days, weeks running.

    weekly_q9: (due date of the week's adherence check-in — not the date it was
    answered, which may slip into the next week —, days done), any order. A
    week is a Monday-to-Sunday calendar week; when one has two entries the
    later date counts. Reading: "two weeks running" means the last
    adherence_weeks answered weeks are consecutive calendar weeks and each is
    strictly below adherence_fraction of the planned days; an unanswered week in
    between breaks the run (silence is handled elsewhere).
    """
    t = protocol.triage
    if planned_days_per_week <= 0:
        return None
    by_week: dict[date, int] = {}
    for day, done in sorted(weekly_q9):
        by_week[day - timedelta(days=day.weekday())] = done
    weeks = sorted(by_week)[-t.adherence_weeks :]
    if len(weeks) < t.adherence_weeks:
        return None
    if any(b - a != timedelta(days=7) for a, b in pairwise(weeks)):
        return None
    limit = _fraction(t.adherence_fraction) * planned_days_per_week
    if any(by_week[w] >= limit for w in weeks):
        return None
    detail = "; ".join(
        f"week of {w.isoformat()}: {by_week[w]}/{planned_days_per_week}" for w in weeks
    )
    return _finding(
        Tier.ROUTINE,
        Reason.LOW_ADHERENCE,
        f"Exercises done on fewer than {_percent(t.adherence_fraction)} of the "
        f"{planned_days_per_week} planned days, {len(weeks)} weeks running",
        f"Days done: {detail}",
        fact={
            "percent": float(_fraction(t.adherence_fraction)),
            "planned": planned_days_per_week,
            "weeks": [[w.isoformat(), by_week[w]] for w in weeks],
        },
    )


# -- helpers -----------------------------------------------------------------------------


def _finding(
    tier: Tier,
    reason: Reason,
    *reasons: str,
    emergency: bool = False,
    advice: tuple[str, ...] = (),
    fact: dict[str, Any] | None = None,
) -> Finding:
    return Finding(
        tier,
        reason.value,
        tuple(reasons),
        stops_checkin=tier is Tier.URGENT,
        emergency=emergency or tier is Tier.URGENT,
        advice=advice,
        fact={"reason": reason.value, **(fact or {})},
    )


def _at(answer: AnswerFact, **more: Any) -> dict[str, Any]:
    """When an answer came: the session it follows and the hours since (for the sentence)."""
    return {
        "question": _bank_key(answer),
        "hours": round(answer.hours_after_session, 2),
        "session": answer.session_number,
        **more,
    }


def _score_fact(answer: AnswerFact, ctx: PatientContext, **more: Any) -> dict[str, Any]:
    """A 0-10 rating with the patient's usual pain (Q2 is compared with it)."""
    return _at(answer, value=answer.value, baseline=ctx.baseline, **more)


def _before(answer: AnswerFact, history: Sequence[AnswerFact]) -> list[AnswerFact]:
    """History known when `answer` was given, oldest first."""
    known = [f for f in history if f != answer and f.answered_at <= answer.answered_at]
    return sorted(known, key=_order)


def _order(fact: AnswerFact) -> tuple[datetime, int, str, str, int]:
    """Time first; the rest only makes ties independent of the caller's order."""
    return (fact.answered_at, fact.session_number, fact.checkin_key, fact.question_key, fact.value)


def _bank_key(fact: AnswerFact) -> str:
    return fact.question_key.split(".", 1)[0]


def _choices(protocol: Protocol, fact: AnswerFact) -> frozenset[str]:
    """The choice keys of a choice or multi answer (one for a choice), empty for other kinds."""
    question = protocol.question(fact.question_key)
    if question.kind not in ("choice", "multi"):
        return frozenset()
    value = decode_answer(question, fact.value)
    if isinstance(value, str):
        return frozenset({value})
    return frozenset(value) if isinstance(value, tuple) else frozenset()


def _last(facts: Iterable[AnswerFact]) -> AnswerFact | None:
    found: AnswerFact | None = None
    for fact in facts:
        found = fact
    return found


def _hours_between(first: AnswerFact, second: AnswerFact) -> float:
    return (second.answered_at - first.answered_at).total_seconds() / 3600


def _hours(value: float) -> str:
    """'48 h' for whole hours, '47.5 h' otherwise: boundaries stay visible."""
    rounded = round(value)
    if abs(value - rounded) < 0.05:
        return f"{rounded} h"
    return f"{value:.1f} h"


def _percent(fraction: float) -> str:
    return f"{float(_fraction(fraction)) * 100:g}%"


def _fraction(value: float) -> Fraction:
    """The decimal the clinic wrote (0.30 → 3/10), so 30% of 10 is exactly 3."""
    return Fraction(repr(value))


def _checkin_words(key: str) -> str:
    if key.startswith("h") and key[1:].isdigit():
        return f"{key[1:]} h check-in"
    return f"{key} check-in"


def _when(fact: AnswerFact) -> str:
    return (
        f"at the {_checkin_words(fact.checkin_key)}, "
        f"{_hours(fact.hours_after_session)} after session {fact.session_number}"
    )


def _score_words(answer: AnswerFact, ctx: PatientContext) -> str:
    """'Usual pain 8/10 at the 48 h check-in, …, baseline 5 (+3)': the numbers a therapist needs."""
    if _bank_key(answer) == _Q2:
        diff = answer.value - ctx.baseline
        return f"Usual pain {answer.value}/10 {_when(answer)}, baseline {ctx.baseline} ({diff:+d})"
    return f"Needle-site soreness {answer.value}/10 {_when(answer)}"
