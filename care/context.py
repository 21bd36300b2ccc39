"""Gathering what the pure clinical logic needs about a patient from the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows.engine import TRUNK, PatientContext
from flows.protocol import Protocol
from store.models import Answer, Checkin, ExerciseLog, NeedlingSession, Patient


def patient_tz(patient: Patient, default: ZoneInfo) -> ZoneInfo:
    """The patient's own time zone if they set one, else the clinic's."""
    if patient.timezone:
        try:
            return ZoneInfo(patient.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return default
    return default


async def sessions_of(db: AsyncSession, patient_id: int) -> list[NeedlingSession]:
    result = await db.exec(
        select(NeedlingSession)
        .where(NeedlingSession.patient_id == patient_id)
        .order_by(col(NeedlingSession.number))
    )
    return list(result.all())


async def latest_session(db: AsyncSession, patient_id: int) -> NeedlingSession | None:
    result = await db.exec(
        select(NeedlingSession)
        .where(NeedlingSession.patient_id == patient_id)
        .order_by(col(NeedlingSession.number).desc())
        .limit(1)
    )
    return result.first()


async def course_start(db: AsyncSession, patient_id: int) -> datetime | None:
    """The end of the first session: day 0 of the course."""
    first = (await sessions_of(db, patient_id))[:1]
    return first[0].ended_at if first else None


async def load_checkin_answers(db: AsyncSession, checkin_id: int) -> dict[str, int]:
    """The answers stored for one check-in, by question ref key (a query; with a
    patient's answers loaded already, pick_checkin_answers takes them from those)."""
    result = await db.exec(select(Answer).where(Answer.checkin_id == checkin_id))
    return {a.question_key: a.value for a in result.all()}


async def load_context(
    db: AsyncSession,
    protocol: Protocol,
    patient: Patient,
    session_id: int | None,
    *,
    recent_at: datetime | None = None,
) -> PatientContext:
    """Regions of the check-in's session and the answers given earlier in it; with
    `recent_at`, also how long before that moment each region tag was last needled."""
    session = await db.get(NeedlingSession, session_id) if session_id is not None else None
    if session is None and patient.id is not None:
        session = await latest_session(db, patient.id)
    earlier: dict[tuple[str, str], int] = {}
    if session is not None:
        rows = await db.exec(
            select(Checkin.key, Answer.question_key, Answer.value)
            .join(Answer, col(Answer.checkin_id) == col(Checkin.id))
            .where(Checkin.session_id == session.id)
        )
        for key, question, value in rows.all():
            earlier[(key, question)] = value
    recent: dict[str, float] = {}
    if recent_at is not None and patient.id is not None:
        recent = recent_tags(protocol, await sessions_of(db, patient.id), recent_at)
    before = await sessions_before(db, session)
    return build_context(protocol, patient, session, earlier, recent=recent, sessions_before=before)


async def checkin_context(
    db: AsyncSession, protocol: Protocol, patient: Patient, checkin: Checkin
) -> PatientContext:
    """The context a check-in's questions are chosen in — the same whenever it is read
    (sent, nudged, answered, closed): a check-in that looks at recent sessions (the
    /symptom report's "TRUNK in the last 72 h") judges them at its due time."""
    definition = protocol.checkins.get(checkin.key)
    recent_at = checkin.due_at if definition and definition.looks_at_recent_sessions else None
    ctx = await load_context(db, protocol, patient, checkin.session_id, recent_at=recent_at)
    if definition and definition.looks_at_exercise_logs and patient.id is not None:
        days = await logged_exercise_days(db, patient.id, until=checkin.due_at)
        ctx = replace(ctx, logged_exercise_days_this_week=days)
    return ctx


async def logged_exercise_days(db: AsyncSession, patient_id: int, *, until: datetime) -> int:
    """The days with an exercise logged done in the 7 days up to `until`, counting the
    logs made by then: a check-in due at `until` asks the same whenever it is read (sent,
    answered), whatever the patient logs in between."""
    rows = await db.exec(
        select(col(ExerciseLog.day))
        .where(
            ExerciseLog.patient_id == patient_id,
            ExerciseLog.kind == "done",
            col(ExerciseLog.at) > until - timedelta(days=7),
            col(ExerciseLog.at) <= until,
        )
        .distinct()
    )
    return len(list(rows.all()))


def recent_tags(
    protocol: Protocol, sessions: list[NeedlingSession], at: datetime
) -> dict[str, float]:
    """Hours from the end of the latest session (ended by `at`) needling each tag to `at`."""
    ages: dict[str, float] = {}
    for session in sessions:
        if session.ended_at > at:
            continue
        hours = (at - session.ended_at).total_seconds() / 3600
        for tag in protocol.region_tags(r for r in session.regions if r in protocol.regions):
            ages[tag] = min(hours, ages.get(tag, hours))
    return ages


async def sessions_before(
    db: AsyncSession, session: NeedlingSession | None
) -> list[NeedlingSession]:
    """The patient's sessions before `session` (none for a first session: no query)."""
    if session is None or session.number <= 1:
        return []
    result = await db.exec(
        select(NeedlingSession)
        .where(
            NeedlingSession.patient_id == session.patient_id,
            col(NeedlingSession.number) < session.number,
        )
        .order_by(col(NeedlingSession.number))
    )
    return list(result.all())


def inherited_tags(
    protocol: Protocol, session: NeedlingSession, sessions_before: Sequence[NeedlingSession]
) -> frozenset[str]:
    """TRUNK when an earlier session needled the trunk within the trunk window before this
    session ended: its check-ins keep asking the chest screen (Q5) although this session
    was LOWER only — a pneumothorax can start up to 2 days later, and the new session
    supersedes the earlier one's check-ins (issue 10). Judged at the session's end, not at
    the tap, so a check-in asks the same questions when sent and when answered."""
    window = timedelta(hours=protocol.triage.trunk_window_hours)
    for earlier in sessions_before:
        gap = session.ended_at - earlier.ended_at
        regions = [r for r in earlier.regions if r in protocol.regions]
        if timedelta(0) <= gap <= window and TRUNK in protocol.region_tags(regions):
            return frozenset({TRUNK})
    return frozenset()


def build_context(
    protocol: Protocol,
    patient: Patient,
    session: NeedlingSession | None,
    earlier: dict[tuple[str, str], int],
    *,
    recent: dict[str, float] | None = None,
    sessions_before: Sequence[NeedlingSession] = (),
) -> PatientContext:
    """The engine's view of a patient, from records already loaded.

    Region tags are the session's own, plus TRUNK inherited from an earlier session in
    the trunk window (`sessions_before`, see inherited_tags)."""
    regions = [r for r in (session.regions if session else []) if r in protocol.regions]
    tags = protocol.region_tags(regions)
    if session is not None and sessions_before:
        tags |= inherited_tags(protocol, session, sessions_before)
    return PatientContext(
        region_tags=tags,
        baseline=patient.baseline_pain,
        activities=tuple(patient.activities),
        earlier=earlier,
        leg_symptoms=patient.leg_symptoms,
        recent_tags=recent or {},
    )


@dataclass(frozen=True)
class StoredAnswer:
    """One stored answer with the check-in and session it belongs to."""

    checkin_id: int
    checkin_key: str
    session_id: int | None
    question_key: str
    value: int
    answered_at: datetime
    session_number: int | None
    session_ended_at: datetime | None


# built once: it runs on every tap
_PATIENT_ANSWERS_QUERY = (
    sa_select(
        col(Answer.checkin_id),
        col(Checkin.key),
        col(Checkin.session_id),
        col(Answer.question_key),
        col(Answer.value),
        col(Answer.answered_at),
        col(NeedlingSession.number),
        col(NeedlingSession.ended_at),
    )
    .join(Checkin, col(Checkin.id) == col(Answer.checkin_id))
    .outerjoin(NeedlingSession, col(NeedlingSession.id) == col(Checkin.session_id))
    .where(col(Answer.patient_id) == bindparam("patient_id"))
    .order_by(col(Answer.answered_at), col(Answer.id))
)


async def load_patient_answers(db: AsyncSession, patient_id: int) -> list[StoredAnswer]:
    """Every answer of a patient, oldest first, in one query.

    A tap needs three views of them — the answers already given in the check-in,
    the earlier answers of its session (the engine's context) and the whole history
    (triage) — and reading them once keeps the tap short.
    """
    # plain rows through the session's connection: no ORM objects are needed here
    connection = await db.connection()
    rows = await connection.execute(_PATIENT_ANSWERS_QUERY, {"patient_id": patient_id})
    return [StoredAnswer(*row) for row in rows.all()]


def pick_checkin_answers(answers: list[StoredAnswer], checkin_id: int) -> dict[str, int]:
    """The answers already given in one check-in, by question ref key."""
    return {a.question_key: a.value for a in answers if a.checkin_id == checkin_id}


def earlier_in_session(
    answers: list[StoredAnswer], session_id: int | None
) -> dict[tuple[str, str], int]:
    """The answers of a session's check-ins, by (check-in key, question ref key)."""
    if session_id is None:
        return {}
    return {(a.checkin_key, a.question_key): a.value for a in answers if a.session_id == session_id}
