"""Gathering what the pure clinical logic needs about a patient from the database."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from flows.engine import PatientContext
from flows.protocol import Protocol
from store.models import Answer, Checkin, NeedlingSession, Patient


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


async def answers_of(db: AsyncSession, checkin_id: int) -> dict[str, int]:
    result = await db.exec(select(Answer).where(Answer.checkin_id == checkin_id))
    return {a.question_key: a.value for a in result.all()}


async def context_for(
    db: AsyncSession, protocol: Protocol, patient: Patient, session_id: int | None
) -> PatientContext:
    """Regions of the check-in's session and the answers given earlier in it."""
    session = await db.get(NeedlingSession, session_id) if session_id is not None else None
    if session is None and patient.id is not None:
        session = await latest_session(db, patient.id)
    regions = [r for r in (session.regions if session else []) if r in protocol.regions]
    earlier: dict[tuple[str, str], int] = {}
    if session is not None:
        rows = await db.exec(
            select(Checkin.key, Answer.question_key, Answer.value)
            .join(Answer, col(Answer.checkin_id) == col(Checkin.id))
            .where(Checkin.session_id == session.id)
        )
        for key, question, value in rows.all():
            earlier[(key, question)] = value
    return PatientContext(
        region_tags=protocol.region_tags(regions),
        baseline=patient.baseline_pain,
        activities=tuple(patient.activities),
        earlier=earlier,
        leg_symptoms=patient.leg_symptoms,
    )
