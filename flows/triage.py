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
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from itertools import pairwise

from flows.answers import decode_answer
from flows.context import TRUNK, PatientContext
from flows.protocol import AfterSession, Protocol

__all__ = [
    "AMBIGUOUS_READINGS",
    "AnswerFact",
    "Finding",
    "Reason",
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
    NO_PROGRESS_READING = "no_progress_reading"
    ADHERENCE_NOT_REPORTED = "adherence_not_reported"


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
class Finding:
    """One triage decision.

    reason_key: stable, one of `Reason` (the store keeps one open alert per
    patient and reason). reasons: plain-English lines with the numbers, for the
    therapist. stops_checkin: URGENT only — the patient sees the emergency
    instruction and is asked nothing more in that check-in. emergency: the patient is
    shown the emergency text (every URGENT finding, and readings the protocol sends to the
    emergency text whatever the tier, such as Q5 = Yes outside the trunk window).
    """

    tier: Tier
    reason_key: str
    reasons: tuple[str, ...]
    stops_checkin: bool
    emergency: bool = False


def highest(findings: Iterable[Finding]) -> Tier | None:
    """The most severe tier among the findings, or None when there are none."""
    tiers = [f.tier for f in findings]
    return max(tiers) if tiers else None


#: Readings of clinical.md a clinician must review (also in the module docstrings).
AMBIGUOUS_READINGS: tuple[str, ...] = (
    "Q5 = Yes outside the TRUNK window (after 72 h, or with no TRUNK region) raises nothing: "
    "the table has no trigger for it (Q5 is only asked after TRUNK needling).",
    "'Within 72 h', '≥ 48 h', '≥ 24 h' are inclusive at the boundary (72.0 h is within).",
    "Q4 'fainted or nearly fainted' counts as fainting after leaving the clinic (URGENT), "
    "near-faints included, at any check-in.",
    "Fever with spreading redness: Q4 fever and Q3 spreading redness in the same check-in, or "
    "answered within fever_redness_within_hours (24 h) of each other, in any order.",
    "Swelling or pus with fever is not in the URGENT list: it gives SOON site_infection_signs "
    "and SOON fever, each naming the other.",
    "Numbness > 24 h: a Q4 'numbness or tingling' answer at least numbness_hours (24 h) after "
    "the first one of the same session, with no 'nothing new' in between (the table says "
    "'> 24 h'; two reports ≥ 24 h apart show it lasted at least that long). Q4 does not ask "
    "about sides: numbness is taken as one-sided (both legs is Q6).",
    "Q1 at 48 h with no Q1 answer at 24 h: no finding (the 72 h check-in follows Q1 ≥ 4 "
    "at 48 h and judges it).",
    "Q1/Q2 = 9–10 is not raised as a callback when the same answer, or an earlier answer in "
    "the same sending of the same check-in, is URGENT; URGENT answers in other check-ins do "
    "not hide it.",
    "A callback (pain 9–10) does not hide the SOON findings of the same answer "
    "(e.g. Q2 = 9 at 48 h also gives q2_above_baseline).",
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
_FEVER = "fever_chills"


# -- one answer --------------------------------------------------------------------------


def triage_answer(
    protocol: Protocol,
    *,
    answer: AnswerFact,
    ctx: PatientContext,
    history: Sequence[AnswerFact],
    session_regions_tags: frozenset[str],
) -> list[Finding]:
    """The immediate findings of one new answer, given the patient's earlier answers.

    history: this patient's earlier answers, all sessions, any order; answers
    given after `answer` (and `answer` itself, if included) are ignored, so the
    result depends only on what was known when the patient tapped.
    session_regions_tags: the region tags of session `answer.session_number`
    (the Q5 chest screen applies only after TRUNK needling). ctx supplies the
    baseline for Q2.

    Findings come URGENT first, then the callback, then SOON, each at most once.
    """
    earlier = _before(answer, history)
    findings = _urgent_findings(protocol, answer, earlier, session_regions_tags)
    if not findings and not _urgent_earlier_in_checkin(
        protocol, answer, earlier, session_regions_tags
    ):
        findings += _callback_findings(protocol, answer, ctx)
    findings += _soon_findings(protocol, answer, ctx, earlier)
    return findings


def _urgent_findings(
    protocol: Protocol,
    answer: AnswerFact,
    earlier: Sequence[AnswerFact],
    tags: frozenset[str],
) -> list[Finding]:
    """URGENT triggers of the table: chest after TRUNK, cauda equina, Q4 red flags, Q3 bleeding.

    Reading: "within 72 h" includes 72.0 h. Q5 = Yes outside the window or
    without TRUNK needling raises nothing — the table lists no trigger for it.
    Reading: any Q4 "fainted or nearly fainted" is after leaving the clinic
    (every check-in is sent after the session), near-faints included.
    """
    t = protocol.triage
    bank = _bank_key(answer)
    when = _when(answer)
    if bank == _Q5 and answer.value == 1:
        if TRUNK in tags and 0 <= answer.hours_after_session <= t.trunk_window_hours:
            return [
                _finding(
                    Tier.URGENT,
                    Reason.Q5_CHEST_TRUNK,
                    "Chest pain, pain on a deep breath, shortness of breath or a new dry cough",
                    f"Reported {when}; trunk region needled "
                    f"(pneumothorax screen for {_hours(t.trunk_window_hours)})",
                )
            ]
        return []
    if bank == _Q6 and answer.value == 1:
        return [
            _finding(
                Tier.URGENT,
                Reason.Q6_CAUDA_EQUINA,
                "Possible cauda equina signs: new saddle numbness, bladder or bowel change, "
                "or symptoms in both legs",
                f"Reported {when}",
            )
        ]
    choice = _choice(protocol, answer)
    if bank == _Q4 and choice == _LEG_WEAKNESS:
        return [
            _finding(
                Tier.URGENT,
                Reason.LEG_WEAKNESS,
                "New leg weakness or foot catching",
                f"Reported {when}",
            )
        ]
    if bank == _Q4 and choice == _FAINTED:
        return [
            _finding(
                Tier.URGENT,
                Reason.FAINTED,
                "Fainted or nearly fainted after leaving the clinic",
                f"Reported {when}",
            )
        ]
    if bank == _Q4 and choice == _FEVER:
        site = _paired(protocol, answer, earlier, _Q3, {_SPREADING_REDNESS})
        if site is not None:
            return [_fever_with_redness(protocol, fever=answer, redness=site)]
    if bank == _Q3 and choice == _SPREADING_REDNESS:
        fever = _paired(protocol, answer, earlier, _Q4, {_FEVER})
        if fever is not None:
            return [_fever_with_redness(protocol, fever=fever, redness=answer)]
    if bank == _Q3 and choice == _BLEEDING:
        return [
            _finding(
                Tier.URGENT,
                Reason.BLEEDING,
                "Bleeding at a needle site that will not stop",
                f"Reported {when}",
            )
        ]
    return []


def _fever_with_redness(protocol: Protocol, *, fever: AnswerFact, redness: AnswerFact) -> Finding:
    gap = abs(_hours_between(fever, redness))
    return _finding(
        Tier.URGENT,
        Reason.FEVER_SPREADING_REDNESS,
        "Fever or chills together with spreading redness or warmth at a needle site",
        f"Fever reported {_when(fever)}; spreading redness reported {_when(redness)} "
        f"({_hours(gap)} apart; paired within "
        f"{_hours(protocol.triage.fever_redness_within_hours)})",
    )


def _urgent_earlier_in_checkin(
    protocol: Protocol, answer: AnswerFact, earlier: Sequence[AnswerFact], tags: frozenset[str]
) -> bool:
    """Whether an earlier answer of the same check-in was URGENT ("without the above").

    An URGENT answer ends the check-in, so this only matters for an answer that
    arrives afterwards anyway (an old button).
    """
    for index, prior in enumerate(earlier):
        if not _same_checkin(protocol, prior, answer):
            continue
        if _urgent_findings(protocol, prior, earlier[:index], tags):
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
        )
    ]


def _soon_findings(
    protocol: Protocol, answer: AnswerFact, ctx: PatientContext, earlier: Sequence[AnswerFact]
) -> list[Finding]:
    """SOON triggers of one answer: site signs, fever alone, lasting numbness, Q1, Q2 rise."""
    t = protocol.triage
    bank = _bank_key(answer)
    when = _when(answer)
    found: list[Finding] = []
    if bank == _Q3:
        choice = _choice(protocol, answer)
        fever = _paired(protocol, answer, earlier, _Q4, {_FEVER})
        if choice == _SWELLING_OR_PUS or (choice == _SPREADING_REDNESS and fever is None):
            words = (
                "Swelling or pus" if choice == _SWELLING_OR_PUS else "Spreading redness or warmth"
            )
            also = (
                f"fever or chills also reported {_when(fever)}"
                if fever is not None
                else "no fever or chills reported"
            )
            found.append(
                _finding(
                    Tier.SOON,
                    Reason.SITE_INFECTION_SIGNS,
                    f"{words} at a needle site, reported {when}",
                    also[0].upper() + also[1:],
                )
            )
    elif bank == _Q4:
        choice = _choice(protocol, answer)
        if (
            choice == _FEVER
            and _paired(protocol, answer, earlier, _Q3, {_SPREADING_REDNESS}) is None
        ):
            pus = _paired(protocol, answer, earlier, _Q3, {_SWELLING_OR_PUS})
            found.append(
                _finding(
                    Tier.SOON,
                    Reason.FEVER,
                    f"Fever or chills, reported {when}",
                    f"Swelling or pus at a needle site also reported {_when(pus)}"
                    if pus is not None
                    else "No spreading redness at the needle sites reported",
                )
            )
        elif choice == _NUMBNESS:
            first = _numbness_start(protocol, answer, earlier)
            if first is not None:
                lasted = _hours_between(first, answer)
                if lasted >= t.numbness_hours:
                    found.append(
                        _finding(
                            Tier.SOON,
                            Reason.NUMBNESS_24H,
                            "New numbness or tingling still there after "
                            f"{_hours(lasted)} (alert after {_hours(t.numbness_hours)})",
                            f"First reported {_when(first)}; again {when}",
                        )
                    )
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
                )
            )
    return found


def _q1_findings(
    protocol: Protocol, answer: AnswerFact, earlier: Sequence[AnswerFact]
) -> list[Finding]:
    """Needle soreness that is high at 24 h, not falling by 48 h, or still there at 72 h.

    Tied to the check-ins h24/h48/h72 rather than to elapsed hours, because the
    24 h check-in is moved into the next morning (it can be 12–35 h after the
    session). Reading: at 48 h with no Q1 answer at 24 h, nothing is raised —
    "not lower than at 24 h" cannot be judged, and the 72 h check-in follows any
    Q1 ≥ 4 at 48 h and judges it.
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
                )
            ]
    if answer.checkin_key == _H72 and v >= t.soon_q1_72h:
        return [
            _finding(
                Tier.SOON,
                Reason.Q1_HIGH_72H,
                head,
                f"Alert from {t.soon_q1_72h}/10 at 72 h",
            )
        ]
    return []


def _numbness_start(
    protocol: Protocol, answer: AnswerFact, earlier: Sequence[AnswerFact]
) -> AnswerFact | None:
    """The first Q4 numbness report of the current episode in this session.

    Reading: the episode is the run of Q4 answers of the same session since the
    last "nothing new"; other Q4 choices (fever, …) do not end it, because Q4
    takes one tap and the patient may have picked the more pressing symptom.
    A new session starts a new episode (Q4 asks "since treatment").
    """
    start: AnswerFact | None = None
    for fact in earlier:
        if fact.session_number != answer.session_number or _bank_key(fact) != _Q4:
            continue
        choice = _choice(protocol, fact)
        if choice == _NOTHING_NEW:
            start = None
        elif choice == _NUMBNESS and start is None:
            start = fact
    return start


def _paired(
    protocol: Protocol,
    answer: AnswerFact,
    earlier: Sequence[AnswerFact],
    question: str,
    choices: set[str],
) -> AnswerFact | None:
    """The latest earlier answer to `question` with one of `choices`, close enough to pair.

    Reading: "fever with spreading redness" = both in the same check-in, or
    answered within fever_redness_within_hours of each other (any order, any
    session): Q4 is asked at 3 h and 24 h and Q3 at 24 h and 48 h, so the two
    signs of one infection are often reported in different check-ins.
    """
    window = protocol.triage.fever_redness_within_hours
    for fact in reversed(earlier):
        if _bank_key(fact) != question or _choice(protocol, fact) not in choices:
            continue
        if _same_checkin(protocol, fact, answer) or abs(_hours_between(fact, answer)) <= window:
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
    )


# -- helpers -----------------------------------------------------------------------------


def _finding(tier: Tier, reason: Reason, *reasons: str) -> Finding:
    return Finding(
        tier,
        reason.value,
        tuple(reasons),
        stops_checkin=tier is Tier.URGENT,
        emergency=tier is Tier.URGENT,
    )


def _before(answer: AnswerFact, history: Sequence[AnswerFact]) -> list[AnswerFact]:
    """History known when `answer` was given, oldest first."""
    known = [f for f in history if f != answer and f.answered_at <= answer.answered_at]
    return sorted(known, key=_order)


def _order(fact: AnswerFact) -> tuple[datetime, int, str, str, int]:
    """Time first; the rest only makes ties independent of the caller's order."""
    return (fact.answered_at, fact.session_number, fact.checkin_key, fact.question_key, fact.value)


def _bank_key(fact: AnswerFact) -> str:
    return fact.question_key.split(".", 1)[0]


def _choice(protocol: Protocol, fact: AnswerFact) -> str | None:
    """The choice key of a Q3/Q4-style answer, None for other kinds."""
    question = protocol.question(fact.question_key)
    if question.kind != "choice":
        return None
    value = decode_answer(question, fact.value)
    return value if isinstance(value, str) else None


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
