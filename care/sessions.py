"""Recording a new needling session for an enrolled patient (`/session`)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care import audit
from care.context import latest_session, patient_tz
from care.planning import plan_session
from flows.protocol import Protocol
from store.models import (
    NeedlingSession,
    OutboxKind,
    OutboxMessage,
    Patient,
    PatientStatus,
    StaffMember,
)

FOLLOWED = (PatientStatus.ACTIVE, PatientStatus.PAUSED)
#: courses that ended with the patient's data kept: still found by staff (issue 14 item 8)
ENDED_COURSES = (
    PatientStatus.DISCHARGED,
    PatientStatus.STOPPED,
    PatientStatus.DECLINED,
    PatientStatus.UNREACHABLE,
)


class SessionError(ValueError):
    """A session that cannot be recorded; the message is a text key safe to show staff."""


async def followed_patients(db: AsyncSession) -> list[Patient]:
    """Every patient in follow-up, most recently enrolled first (names only reach staff);
    the desk's pickers page through them (bot/desk_view.py)."""
    return await patients_in(db, FOLLOWED)


async def patients_in(
    db: AsyncSession, statuses: Iterable[str], *, therapist_id: int | None = None
) -> list[Patient]:
    """The patients in `statuses` (of one therapist, or everyone's), newest first."""
    query = select(Patient).where(col(Patient.status).in_(list(statuses)))
    if therapist_id is not None:
        query = query.where(Patient.therapist_id == therapist_id)
    return list((await db.exec(query.order_by(col(Patient.id).desc()))).all())


def folded(text: str) -> str:
    """`text` without case or accents: "José" and "jose" fold alike, "Muñoz" as "munoz"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def name_matches(patients: Sequence[Patient], typed: str) -> list[Patient]:
    """The patients whose name holds every typed word (case and accents ignored), in
    the list's order; nothing typed matches nothing."""
    words = folded(typed).split()
    if not words:
        return []
    return [p for p in patients if all(w in folded(p.display_name or "") for w in words)]


def queue_session_advice(
    db: AsyncSession, patient: Patient, session: NeedlingSession, *, signs: bool, now: datetime
) -> None:
    """Queue the message after a session (in the caller's transaction, so once per session):
    the aftercare advice, and with `signs` the emergency signs again (clinical.md, "What the
    patient is told"). Session 1's goes at consent, after the welcome that has just listed
    the signs; a later session's when staff record it."""
    if patient.tg_user_id is None or session.id is None:
        return
    db.add(
        OutboxMessage(
            kind=OutboxKind.SESSION_ADVICE,
            chat_id=patient.tg_user_id,
            patient_id=patient.id,
            payload={"session": session.number, "session_id": session.id, "signs": signs},
            due_at=now,
            created_at=now,
        )
    )


async def record_session(
    db: AsyncSession,
    protocol: Protocol,
    *,
    staff: StaffMember,
    patient_id: int,
    ended_at: datetime,
    regions: list[str],
    default_tz: ZoneInfo,
    now: datetime,
) -> NeedlingSession:
    """Store session N+1 and plan its check-ins, superseding what the last one still had."""
    patient = await db.get(Patient, patient_id)
    if patient is None or patient.status not in FOLLOWED:
        raise SessionError("session_patient_gone")
    if not regions or any(r not in protocol.regions for r in regions):
        raise SessionError("enroll_regions_none")
    if ended_at > now:
        raise SessionError("session_future")
    previous = await latest_session(db, patient_id)
    if previous is not None and ended_at <= previous.ended_at:
        raise SessionError("session_before_last")
    session = NeedlingSession(
        patient_id=patient_id,
        number=(previous.number + 1) if previous else 1,
        ended_at=ended_at,
        regions=list(regions),
        recorded_by=staff.id,
        created_at=now,
    )
    db.add(session)
    await db.flush()
    await plan_session(
        db,
        protocol,
        patient=patient,
        session=session,
        tz=patient_tz(patient, default_tz),
        now=now,
    )
    queue_session_advice(db, patient, session, signs=True, now=now)
    audit.record(
        db,
        now=now,
        action="session_recorded",
        actor_kind="staff",
        actor_id=staff.id,
        subject_kind="patient",
        subject_id=patient_id,
        session_id=session.id,
        number=session.number,
    )
    await db.commit()
    return session
