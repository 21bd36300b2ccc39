"""Gathering the facts the pure triage and progress rules need, from the database."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care.context import StoredAnswer, load_patient_answers, sessions_of
from care.planning import CLOSED_FOR_SESSION
from flows.engine import PatientContext
from flows.progress import CourseFacts, Reading, adherence_unreported, progress_findings
from flows.protocol import Protocol
from flows.triage import (
    AnswerFact,
    Finding,
    Reason,
    SessionFact,
    triage_adherence,
    triage_answer,
    triage_silence,
)
from store.models import Answer, Checkin, CheckinState, ExerciseLog, NeedlingSession, Patient

WEEKLY_KEYS = ("weekly",)
ADHERENCE_KEYS = ("adherence",)
#: a check-in's reason when its conditions left it nothing to ask (care.checkins)
CONDITION_NOT_MET = "condition not met"


def answer_history(answers: list[StoredAnswer]) -> list[AnswerFact]:
    """The triage view of a patient's stored answers (those of a session's check-ins)."""
    return [
        AnswerFact(
            checkin_key=a.checkin_key,
            question_key=a.question_key,
            value=a.value,
            answered_at=a.answered_at,
            session_number=a.session_number,
            hours_after_session=(a.answered_at - a.session_ended_at).total_seconds() / 3600,
        )
        for a in answers
        if a.session_number is not None and a.session_ended_at is not None
    ]


async def findings_for_answer(
    db: AsyncSession,
    protocol: Protocol,
    *,
    patient: Patient,
    checkin: Checkin,
    session: NeedlingSession | None,
    history: list[AnswerFact],
    question_key: str,
    value: int,
    ctx: PatientContext,
    now: datetime,
) -> list[Finding]:
    """The alert findings of one new (already flushed) answer, and the course's progress
    and adherence verdicts when the answer is a weekly pain or adherence rating.

    `session` is the check-in's session and `history` the patient's answers before
    this one (:func:`answer_history`)."""
    assert patient.id is not None
    if session is None:
        return []
    fact = AnswerFact(
        checkin_key=checkin.key,
        question_key=question_key,
        value=value,
        answered_at=now,
        session_number=session.number,
        hours_after_session=(now - session.ended_at).total_seconds() / 3600,
    )
    tags = protocol.region_tags(r for r in session.regions if r in protocol.regions)
    findings = triage_answer(
        protocol,
        answer=fact,
        ctx=ctx,
        history=history,
        session_regions_tags=tags,
        sessions=await _session_facts(db, protocol, patient.id)
        if _needs_every_session(question_key, value)
        else (),
    )
    if checkin.key in WEEKLY_KEYS and question_key == "Q2":
        findings += await _progress(db, protocol, patient, [*history, fact], now)
    if checkin.key in ADHERENCE_KEYS and question_key == "Q9":
        found = await _adherence(db, protocol, patient)
        if found is not None:
            findings.append(found)
    return findings


def _needs_every_session(question_key: str, value: int) -> bool:
    """Only Q5 = Yes looks beyond the check-in's own session (any TRUNK session in 72 h):
    the other taps skip the query."""
    return question_key == "Q5" and value == 1


async def _session_facts(
    db: AsyncSession, protocol: Protocol, patient_id: int
) -> list[SessionFact]:
    """Every session of the patient with its end time and region tags."""
    return [
        SessionFact(
            number=s.number,
            ended_at=s.ended_at,
            tags=protocol.region_tags(r for r in s.regions if r in protocol.regions),
        )
        for s in await sessions_of(db, patient_id)
    ]


async def course_findings_on_close(
    db: AsyncSession, protocol: Protocol, *, patient: Patient, checkin: Checkin, now: datetime
) -> list[Finding]:
    """The course verdicts an *unanswered* course question leads to, made when a course
    check-in closes without being done (expired, or closed for a session check-in):
    "adherence not reported" after weeks of adherence questions without a Q9 answer, and
    "no usable progress reading" at the stall or re-evaluate point (clinical.md, second
    review). The verdicts on answers are made when the answer comes
    (findings_for_answer)."""
    assert patient.id is not None
    if checkin.key in ADHERENCE_KEYS:
        found = adherence_unreported(protocol, await _unanswered_adherence_weeks(db, patient.id))
        return [found] if found is not None else []
    if checkin.key in WEEKLY_KEYS:
        history = answer_history(await load_patient_answers(db, patient.id))
        findings = await _progress(db, protocol, patient, history, now)
        return [f for f in findings if f.reason_key == Reason.NO_PROGRESS_READING]
    return []


async def _unanswered_adherence_weeks(db: AsyncSession, patient_id: int) -> int:
    """How many of the latest adherence check-ins, in a row, closed without a Q9 answer.
    A week not asked because the patient logged exercises (skipped: its condition not met)
    was reported, and ends the run."""
    closed = await db.exec(
        select(Checkin.id, Checkin.state, Checkin.reason)
        .where(
            Checkin.patient_id == patient_id,
            col(Checkin.key).in_(ADHERENCE_KEYS),
            col(Checkin.state).in_([CheckinState.DONE, CheckinState.EXPIRED, CheckinState.SKIPPED]),
            # closed early for a session check-in: the patient never had the chance
            or_(col(Checkin.reason).is_(None), col(Checkin.reason) != CLOSED_FOR_SESSION),
        )
        .order_by(col(Checkin.due_at).desc())
    )
    ids = []
    for checkin_id, state, reason in closed.all():
        if state == CheckinState.SKIPPED:
            if reason == CONDITION_NOT_MET:
                break
            continue
        ids.append(checkin_id)
    if not ids:
        return 0
    answered = set(
        (
            await db.exec(
                select(Answer.checkin_id).where(
                    col(Answer.checkin_id).in_(ids), Answer.question_key == "Q9"
                )
            )
        ).all()
    )
    count = 0
    for checkin_id in ids:
        if checkin_id in answered:
            break
        count += 1
    return count


async def _progress(
    db: AsyncSession,
    protocol: Protocol,
    patient: Patient,
    history: list[AnswerFact],
    now: datetime,
) -> list[Finding]:
    assert patient.id is not None
    sessions = await sessions_of(db, patient.id)
    if not sessions:
        return []
    ends = [s.ended_at for s in sessions]

    def since_last(at: datetime) -> float:
        before = [e for e in ends if e <= at]
        return (at - before[-1]).total_seconds() / 3600 if before else 0.0

    readings = [
        Reading(at=a.answered_at, value=a.value, hours_after_last_session=since_last(a.answered_at))
        for a in history
        if a.checkin_key in WEEKLY_KEYS and a.question_key == "Q2"
    ]
    q7: dict[str, list[int]] = {}
    for a in history:
        if a.question_key.startswith("Q7."):
            q7.setdefault(a.question_key, []).append(a.value)
    changes = [values[-1] - values[0] for values in q7.values() if len(values) > 1]
    q8 = [a.value for a in history if a.question_key == "Q8"]
    facts = CourseFacts(
        baseline=patient.baseline_pain,
        readings=readings,
        sessions=len(sessions),
        weeks_since_start=(now - ends[0]).total_seconds() / (7 * 24 * 3600),
        q7_best_change=max(changes) if changes else None,
        q8_latest=q8[-1] if q8 else None,
    )
    return progress_findings(protocol, facts)


async def _logged_days_by_week(db: AsyncSession, patient_id: int) -> dict[date, int]:
    """Per Monday-to-Sunday week (keyed by its Monday), the days with an exercise logged
    done (issue 15: the weekly Q9 is asked only in a week with none)."""
    rows = await db.exec(
        select(col(ExerciseLog.day))
        .where(ExerciseLog.patient_id == patient_id, ExerciseLog.kind == "done")
        .distinct()
    )
    weeks: dict[date, int] = {}
    for day in rows.all():
        monday = day - timedelta(days=day.weekday())
        weeks[monday] = weeks.get(monday, 0) + 1
    return weeks


async def adherence_on_skip(
    db: AsyncSession, protocol: Protocol, patient: Patient, checkin: Checkin
) -> Finding | None:
    """The low-adherence verdict when a week's adherence check-in is not sent because the
    patient logged exercises that week: judged from the logs (and the earlier weeks'
    answers), as a Q9 answer is judged."""
    if checkin.key not in ADHERENCE_KEYS:
        return None
    return await _adherence(db, protocol, patient)


async def _adherence(db: AsyncSession, protocol: Protocol, patient: Patient) -> Finding | None:
    """Exercise days per week from the Q9 answers and, in the weeks the patient logged
    exercises instead, from the logs; judged by flows.triage.triage_adherence."""
    assert patient.id is not None
    rows = await db.exec(
        select(Checkin.due_at, Answer.value)
        .join(Answer, col(Answer.checkin_id) == col(Checkin.id))
        .where(
            Checkin.patient_id == patient.id,
            col(Checkin.key).in_(ADHERENCE_KEYS),
            Answer.question_key == "Q9",
        )
    )
    weekly = [(due.date(), value) for due, value in rows.all()]
    # the weeks the patient logged exercises (and so was not asked Q9): the logged days
    asked = {day - timedelta(days=day.weekday()) for day, _ in weekly}
    logged = await _logged_days_by_week(db, patient.id)
    weekly += [
        (monday + timedelta(days=6), days) for monday, days in logged.items() if monday not in asked
    ]
    sessions = await sessions_of(db, patient.id)
    if not weekly or not sessions:
        return None
    # the cadence of the week being judged: daily at first, then the later weekdays
    weeks_in = (max(d for d, _ in weekly) - sessions[0].ended_at.date()).days / 7
    plan = protocol.exercise_plan
    planned = 7 if weeks_in <= plan.daily_weeks else len(plan.later_days)
    return triage_adherence(protocol, weekly_q9=weekly, planned_days_per_week=planned)


def silence_finding(
    protocol: Protocol, *, patient: Patient, checkin_due: datetime, session_end: datetime
) -> Finding | None:
    window = protocol.triage.missed_checkins_window_hours
    within = (checkin_due - session_end).total_seconds() / 3600 <= window
    return triage_silence(
        protocol, missed_consecutive=patient.consecutive_missed, within_first_hours=within
    )
