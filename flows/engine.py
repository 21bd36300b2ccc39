"""The check-in engine: which questions a patient gets, in what order, and what follows.

Pure functions of the protocol, the patient's context and the answers so far,
so the conversation can be resumed from the database at any point (a restart,
a stale button) by asking again "what is the next question?".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flows.answers import AnswerOption, answer_options, decode_answer, encode_answer, is_valid_code
from flows.conditions import guard_passes
from flows.context import LOWER, TRUNK, PatientContext
from flows.protocol import CheckinDef, Protocol, QuestionEntry
from flows.text import Text

#: The questions whose 9–10 asks for a callback (flows.triage's URGENT-callback rule).
CALLBACK_QUESTIONS = frozenset({"Q1", "Q2"})

__all__ = [
    "LOWER",
    "TRUNK",
    "AnswerOption",
    "PatientContext",
    "QuestionRef",
    "after_texts",
    "answer_options",
    "checkin_applies",
    "decode_answer",
    "encode_answer",
    "is_valid_code",
    "next_question",
    "prompt_text",
    "questions_for",
    "reassurance_texts",
]


@dataclass(frozen=True)
class QuestionRef:
    """One question as asked in one check-in.

    key: what answers are stored under — the question key ("Q1"), or for a
    per-activity question the key and the activity's 1-based position
    ("Q7.2"). question: the bank key ("Q7"). activity: the activity's words for
    a per-activity question, else None.
    """

    key: str
    question: str
    activity: str | None = None
    activity_index: int | None = None


def checkin_applies(checkin: CheckinDef, ctx: PatientContext) -> bool:
    """Whether the check-in is sent at all (its condition, evaluated when it falls due).

    A check-in that would ask nothing (every question's condition fails) does
    not apply either: an empty check-in is noise.
    """
    return guard_passes(checkin.guard, ctx) and bool(_entries_for(checkin, ctx))


def questions_for(checkin: CheckinDef, ctx: PatientContext) -> list[QuestionRef]:
    """The ordered questions this patient gets in this check-in.

    Entries whose condition fails are left out. A per-activity question (Q7) is
    expanded once per activity (at most the protocol's max_activities) and
    counts as one toward the check-in's maximum; optional entries are dropped,
    last first, while the list is longer than that maximum. The check-in's own
    condition is not evaluated here (see checkin_applies / next_question).
    """
    refs: list[QuestionRef] = []
    for entry in _entries_for(checkin, ctx):
        if entry.per_activity:
            activities = ctx.activities[: checkin.max_activities]
            refs += [
                QuestionRef(f"{entry.question}.{n}", entry.question, activity, n)
                for n, activity in enumerate(activities, 1)
            ]
        else:
            refs.append(QuestionRef(entry.question, entry.question))
    return refs


def next_question(
    checkin: CheckinDef, ctx: PatientContext, answers: Mapping[str, int]
) -> QuestionRef | None:
    """The first question not yet answered, or None when the check-in is done.

    `answers` is keyed by QuestionRef.key. Order is the protocol's, so a
    patient who answers out of order (an old button) is simply asked the
    remaining ones.
    """
    if not guard_passes(checkin.guard, ctx):
        return None
    for ref in questions_for(checkin, ctx):
        if ref.key not in answers:
            return ref
    return None


def after_texts(
    protocol: Protocol, question_key: str, value: int, ctx: PatientContext
) -> list[Text]:
    """The texts to show after an answer, in the protocol's order.

    question_key may be a per-activity ref key ("Q7.2"); rules are written
    against the bank key ("Q7"). URGENT/SOON replies are triage's job, not this.
    """
    bank_key = question_key.split(".", 1)[0]
    return [
        rule.text
        for rule in protocol.after
        if rule.question == bank_key
        and rule.test.holds(value, ctx.baseline)
        and guard_passes(rule.guard, ctx)
    ]


def reassurance_texts(
    protocol: Protocol, answered: Mapping[str, int], ctx: PatientContext
) -> list[Text]:
    """The texts after a finished check-in's answers, once each, in answer order.

    They are shown only after the last answer (never between two questions, where they
    read as the end of the check-in), and not at all when an answer asked for a callback
    (Q1 or Q2 at the callback score): "some soreness is normal" never goes with "that is
    a very high score". An URGENT answer ends the check-in with its own reply instead.
    """
    high = protocol.triage.urgent_callback_min
    if any(key.split(".", 1)[0] in CALLBACK_QUESTIONS and v >= high for key, v in answered.items()):
        return []
    texts: list[Text] = []
    for key, value in answered.items():
        for text in after_texts(protocol, key, value, ctx):
            if text not in texts:
                texts.append(text)
    return texts


def prompt_text(protocol: Protocol, ref: QuestionRef, lang: str | None) -> str:
    """The question's prompt in `lang`, with the activity filled in for Q7-style questions."""
    prompt = protocol.question(ref.question).prompt
    if ref.activity is None:
        return prompt.get(lang)
    return prompt.render(lang, activity=ref.activity)


def _entries_for(checkin: CheckinDef, ctx: PatientContext) -> list[QuestionEntry]:
    entries = [
        entry
        for entry in checkin.questions
        if guard_passes(entry.guard, ctx) and (not entry.per_activity or ctx.activities)
    ]
    while len(entries) > checkin.max_questions:
        optional = [i for i, entry in enumerate(entries) if entry.optional]
        if not optional:  # the loader guarantees this cannot happen
            break
        del entries[optional[-1]]
    return entries
