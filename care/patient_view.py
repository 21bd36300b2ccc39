"""What a therapist sees of a patient: recent ratings, the chart's series, adherence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care.charts import ChartPoint
from care.context import sessions_of
from store.models import (
    Alert,
    AlertState,
    Answer,
    Checkin,
    CheckinState,
    Patient,
    PatientStatus,
    Role,
    StaffMember,
)


def may_see_patient(staff: StaffMember, patient: Patient) -> bool:
    """A therapist sees their own patients, an admin all: the one rule for a patient's
    card, chart, answers and export, in the chat and in the desk."""
    return staff.active and (staff.role == Role.ADMIN or patient.therapist_id == staff.id)


@dataclass(frozen=True)
class Rating:
    at: datetime
    checkin_key: str
    question_key: str
    value: int


async def recent_ratings(
    db: AsyncSession, patient_id: int, *, keys: tuple[str, ...] = ("Q1", "Q2"), limit: int = 6
) -> list[Rating]:
    """The newest pain and soreness ratings, newest first."""
    rows = await db.exec(
        select(Answer, Checkin.key)
        .join(Checkin, col(Checkin.id) == col(Answer.checkin_id))
        .where(Answer.patient_id == patient_id, col(Answer.question_key).in_(keys))
        .order_by(col(Answer.answered_at).desc(), col(Answer.id).desc())
        .limit(limit)
    )
    return [Rating(a.answered_at, key, a.question_key, a.value) for a, key in rows.all()]


async def chart_series(
    db: AsyncSession, patient_id: int
) -> tuple[list[ChartPoint], list[ChartPoint], list[datetime]]:
    """Usual pain (Q2), soreness (Q1) and the session times, oldest first."""
    rows = await db.exec(
        select(Answer)
        .where(Answer.patient_id == patient_id, col(Answer.question_key).in_(["Q1", "Q2"]))
        .order_by(col(Answer.answered_at))
    )
    usual: list[ChartPoint] = []
    soreness: list[ChartPoint] = []
    for answer in rows.all():
        point = ChartPoint(at=answer.answered_at, value=answer.value)
        (usual if answer.question_key == "Q2" else soreness).append(point)
    sessions = [s.ended_at for s in await sessions_of(db, patient_id)]
    return usual, soreness, sessions


#: the states of a check-in that reached the patient (answered, let lapse, or still open)
SENT_CHECKIN_STATES = (CheckinState.DONE, CheckinState.EXPIRED, CheckinState.OPEN)


async def checkin_response(db: AsyncSession, patient_id: int) -> tuple[int, int]:
    """(answered, sent) check-ins: the patient's response rate."""
    rows = await db.exec(
        select(Checkin.state).where(
            Checkin.patient_id == patient_id,
            col(Checkin.state).in_(SENT_CHECKIN_STATES),
        )
    )
    states = list(rows.all())
    return sum(1 for s in states if s == CheckinState.DONE), len(states)


async def adherence_days(db: AsyncSession, patient_id: int) -> list[int]:
    """Days of exercise reported each week (Q9), oldest first."""
    rows = await db.exec(
        select(Answer.value)
        .where(Answer.patient_id == patient_id, Answer.question_key == "Q9")
        .order_by(col(Answer.answered_at))
    )
    return list(rows.all())


async def therapist_patients(
    db: AsyncSession,
    therapist_id: int | None,
    *,
    offset: int,
    limit: int,
    statuses: tuple[str, ...] = (PatientStatus.ACTIVE, PatientStatus.PAUSED),
) -> tuple[list[Patient], int]:
    """Patients of one therapist (None: all, for admins) in `statuses` (default: in
    follow-up), newest first."""
    query = select(Patient).where(col(Patient.status).in_(list(statuses)))
    if therapist_id is not None:
        query = query.where(Patient.therapist_id == therapist_id)
    everyone = list((await db.exec(query.order_by(col(Patient.id).desc()))).all())
    return everyone[offset : offset + limit], len(everyone)


async def open_alert_count(db: AsyncSession, patient_id: int) -> int:
    rows = await db.exec(
        select(Alert.id).where(Alert.patient_id == patient_id, Alert.state == AlertState.OPEN)
    )
    return len(list(rows.all()))


async def next_checkin_at(db: AsyncSession, patient_id: int) -> datetime | None:
    """When the patient's next scheduled check-in falls due (None: nothing planned)."""
    rows = await db.exec(
        select(Checkin.due_at)
        .where(Checkin.patient_id == patient_id, Checkin.state == CheckinState.SCHEDULED)
        .order_by(col(Checkin.due_at))
        .limit(1)
    )
    return rows.first()


async def answers_of(db: AsyncSession, patient_id: int, *, limit: int = 200) -> list[Rating]:
    """Every answer of the patient (any question), newest first."""
    rows = await db.exec(
        select(Answer, Checkin.key)
        .join(Checkin, col(Checkin.id) == col(Answer.checkin_id))
        .where(Answer.patient_id == patient_id)
        .order_by(col(Answer.answered_at).desc(), col(Answer.id).desc())
        .limit(limit)
    )
    return [Rating(a.answered_at, key, a.question_key, a.value) for a, key in rows.all()]


async def patient_names(db: AsyncSession, ids: set[int]) -> dict[int, str | None]:
    """Display names by patient id (None for an erased patient), in one query."""
    if not ids:
        return {}
    rows = await db.exec(select(Patient.id, Patient.display_name).where(col(Patient.id).in_(ids)))
    return {pid: name for pid, name in rows.all() if pid is not None}
