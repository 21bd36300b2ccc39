"""Multi-select questions (Q4): ticking choices, "Done", and selections left standing.

A multi question is answered in several taps. Each tap toggles one choice of a draft
kept in the database (`answer_draft`, one row per ticked choice with the time it was
ticked), so the buttons stay stateless and a draft survives a restart. "Done" records
the whole draft as ONE answer (the bitmask of the ticked choices) through
`care.checkins.record_answer`, the same recording, triage, alert and next-question path
as any single tap — the bot edge does exactly what it does for a single answer.

A red flag is never lost because the patient walked away: a choice left ticked for the
question's `counts_after_minutes` (10 in the default protocol), or a draft on a check-in
that is running out, is recorded by the sweep (`record_standing_drafts`) as if Done had
been tapped. Nobody is at the tap then, so the patient's safety or emergency text goes
through the outbox, in the same transaction as the answer and its alert
(care.safety_reply).

Toggles are accepted whatever the state of the check-in (a red flag counts from any
state); whether Done on a closed check-in is recorded is record_answer's decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care.alerts import AlertPolicy
from care.checkins import AnswerResult, AnswerStatus, record_answer
from care.context import checkin_context, load_checkin_answers
from flows.answers import toggle_choice
from flows.engine import PatientContext, QuestionRef, next_question, questions_for
from flows.protocol import CheckinDef, Protocol, Question
from store.models import Answer, AnswerDraft, Checkin, CheckinState, Patient


class DraftStatus(StrEnum):
    TOGGLED = "toggled"
    ANSWERED = "answered"  # the question already has its answer: nothing changed
    REFUSED = "refused"  # not this patient's check-in, not a multi question it asks, no such choice


@dataclass(frozen=True)
class DraftResult:
    """What a toggle left: the ticked mask and what the message needs to be redrawn."""

    status: DraftStatus
    selected: int = 0
    checkin: Checkin | None = None
    definition: CheckinDef | None = None
    ref: QuestionRef | None = None
    context: PatientContext | None = None
    answered: dict[str, int] = field(default_factory=dict)
    next_ref: QuestionRef | None = None  # ANSWERED on an open check-in: the question to show


@dataclass(frozen=True)
class _Target:
    checkin: Checkin
    definition: CheckinDef
    ref: QuestionRef
    question: Question
    context: PatientContext


async def _target(
    db: AsyncSession, protocol: Protocol, patient: Patient, checkin_id: int, question_key: str
) -> _Target | None:
    """The patient's check-in and the multi question it asks under `question_key`."""
    checkin = await db.get(Checkin, checkin_id)
    if checkin is None or checkin.patient_id != patient.id:
        return None
    definition = protocol.checkins.get(checkin.key)
    if definition is None:
        return None
    ctx = await checkin_context(db, protocol, patient, checkin)
    ref = next((r for r in questions_for(definition, ctx) if r.key == question_key), None)
    if ref is None:
        return None
    question = protocol.question(ref.question)
    if question.kind != "multi":
        return None
    return _Target(checkin, definition, ref, question, ctx)


async def _draft_rows(
    db: AsyncSession, patient_id: int, checkin_id: int, question_key: str
) -> list[AnswerDraft]:
    result = await db.exec(
        select(AnswerDraft).where(
            AnswerDraft.patient_id == patient_id,
            AnswerDraft.checkin_id == checkin_id,
            AnswerDraft.question_key == question_key,
        )
    )
    return list(result.all())


def _mask(rows: list[AnswerDraft]) -> int:
    mask = 0
    for row in rows:
        mask |= 1 << row.choice
    return mask


async def draft_mask(
    db: AsyncSession, *, patient: Patient, checkin_id: int, question_key: str
) -> int:
    """The choices this patient has ticked so far (0: none)."""
    assert patient.id is not None
    return _mask(await _draft_rows(db, patient.id, checkin_id, question_key))


async def answered_value(
    db: AsyncSession, *, patient: Patient, checkin_id: int, question_key: str
) -> int | None:
    """The recorded answer of this patient's question, if it has one (a late Done)."""
    result = await db.exec(
        select(Answer.value).where(
            Answer.patient_id == patient.id,
            Answer.checkin_id == checkin_id,
            Answer.question_key == question_key,
        )
    )
    return result.first()


async def toggle_draft(
    db: AsyncSession,
    protocol: Protocol,
    *,
    patient: Patient,
    checkin_id: int,
    question_key: str,
    choice: int,
    now: datetime,
) -> DraftResult:
    """Tick or untick one choice ("Nothing new" clears the others and vice versa; flows.answers).

    A newly ticked choice is stamped `now` (its 10 minutes start); a choice that stays
    ticked keeps its stamp. One commit.
    """
    assert patient.id is not None
    target = await _target(db, protocol, patient, checkin_id, question_key)
    if target is None or not 0 <= choice < len(target.question.choices):
        return DraftResult(DraftStatus.REFUSED)
    answered = await load_checkin_answers(db, checkin_id)

    def result(
        status: DraftStatus, selected: int, following: QuestionRef | None = None
    ) -> DraftResult:
        return DraftResult(
            status,
            selected,
            target.checkin,
            target.definition,
            target.ref,
            target.context,
            answered,
            following,
        )

    if question_key in answered:  # e.g. recorded by the sweep: the patient is shown what follows
        following = (
            next_question(target.definition, target.context, answered)
            if target.checkin.state == CheckinState.OPEN
            else None
        )
        return result(DraftStatus.ANSWERED, answered[question_key], following)
    rows = await _draft_rows(db, patient.id, checkin_id, question_key)
    new = toggle_choice(target.question, _mask(rows), choice)
    for row in rows:
        if not new >> row.choice & 1:
            await db.delete(row)
    ticked = {row.choice for row in rows}
    for index in range(len(target.question.choices)):
        if new >> index & 1 and index not in ticked:
            db.add(
                AnswerDraft(
                    checkin_id=checkin_id,
                    patient_id=patient.id,
                    question_key=question_key,
                    choice=index,
                    selected_at=now,
                )
            )
    try:
        await db.commit()
    except IntegrityError:  # the same tap raced itself: what is stored now is the draft
        await db.rollback()
        new = _mask(await _draft_rows(db, patient.id, checkin_id, question_key))
    return result(DraftStatus.TOGGLED, new)


async def clear_draft(
    db: AsyncSession, *, patient: Patient, checkin_id: int, question_key: str
) -> None:
    """Forget a draft whose answer was recorded (or refused for good). One commit."""
    await db.exec(
        delete(AnswerDraft).where(
            col(AnswerDraft.patient_id) == patient.id,
            col(AnswerDraft.checkin_id) == checkin_id,
            col(AnswerDraft.question_key) == question_key,
        )
    )
    await db.commit()


async def finish_draft(
    db: AsyncSession,
    protocol: Protocol,
    policy: AlertPolicy,
    *,
    patient: Patient,
    checkin_id: int,
    question_key: str,
    now: datetime,
    reply_by_outbox: bool = False,
) -> AnswerResult | None:
    """Record the draft as the answer (record_answer), then forget the draft (clear_draft).

    None when nothing is ticked (the patient is asked to tick first). With
    reply_by_outbox (the sweep) the safety reply is queued with the alert.

    Two units of work, in this order, as the Done button does them (bot.routers.checkin
    multi_done): the answer is what must not be lost, so it is committed first; a kill
    between the two leaves the draft standing, and the next pass finds its question
    answered (DUPLICATE) and clears it then.
    """
    mask = await draft_mask(db, patient=patient, checkin_id=checkin_id, question_key=question_key)
    if mask == 0:
        return None
    result = await record_answer(
        db,
        protocol,
        policy,
        patient=patient,
        checkin_id=checkin_id,
        question_key=question_key,
        code=mask,
        now=now,
        reply_by_outbox=reply_by_outbox,
    )
    if result.status != AnswerStatus.REFUSED:
        await clear_draft(db, patient=patient, checkin_id=checkin_id, question_key=question_key)
    return result


async def record_standing_drafts(
    db: AsyncSession, protocol: Protocol, policy: AlertPolicy, *, now: datetime, limit: int = 200
) -> list[AnswerResult]:
    """The sweep: record every draft whose oldest ticked choice has stood for its question's
    counts_after_minutes, or whose open check-in has run out of time (recorded before the
    expiry sweep closes it). Each draft is its own transaction."""
    minutes = {
        key: q.counts_after_minutes
        for key, q in protocol.questions.items()
        if q.kind == "multi" and q.counts_after_minutes is not None
    }
    if not minutes:
        return []
    earliest = now - timedelta(minutes=min(minutes.values()))
    oldest = func.min(AnswerDraft.selected_at)
    rows = await db.exec(
        select(AnswerDraft.patient_id, AnswerDraft.checkin_id, AnswerDraft.question_key, oldest)
        .join(Checkin, col(Checkin.id) == col(AnswerDraft.checkin_id))
        .where(
            (col(AnswerDraft.selected_at) <= earliest)
            | ((col(Checkin.state) == CheckinState.OPEN) & (col(Checkin.expires_at) <= now))
        )
        .group_by(
            col(AnswerDraft.patient_id), col(AnswerDraft.checkin_id), col(AnswerDraft.question_key)
        )
        .limit(limit)
    )
    due = list(rows.all())
    results: list[AnswerResult] = []
    for patient_id, checkin_id, question_key, ticked_at in due:
        patient = await db.get(Patient, patient_id)
        checkin = await db.get(Checkin, checkin_id)
        if patient is None or checkin is None:
            continue
        stood = minutes.get(question_key.split(".", 1)[0])
        running_out = checkin.state == CheckinState.OPEN and checkin.expires_at <= now
        if not running_out and (stood is None or ticked_at > now - timedelta(minutes=stood)):
            continue
        result = await finish_draft(
            db,
            protocol,
            policy,
            patient=patient,
            checkin_id=checkin_id,
            question_key=question_key,
            now=now,
            reply_by_outbox=True,
        )
        if result is not None:
            results.append(result)
    return results
