"""A patient logging the exercises of a reminder one by one: Done, All done, Too painful.

The day logged is the day the reminder was for (its due time on the patient's clock),
whenever the tap comes: a tap the next morning counts for yesterday. Each log is unique
per patient, exercise, day and kind, so a repeated tap logs nothing new. "Too painful"
raises the protocol's findings (flows.exercises.painful_findings) through the alert
machinery in the same unit of work: told in the digest, SOON when repeated.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care import audit
from care.alerts import AlertPolicy, raise_findings
from care.context import patient_tz
from care.programme import programme_of
from flows.exercises import exercises_for_day, painful_findings
from flows.protocol import Protocol
from store.models import ExerciseLog, OutboxKind, OutboxMessage, Patient, PatientStatus

DONE, PAINFUL = "done", "painful"
LOGGING = (PatientStatus.ACTIVE, PatientStatus.PAUSED)


class LogOutcome(StrEnum):
    LOGGED = "logged"
    ALREADY = "already"  # every log asked for was there already
    EXPIRED = "expired"  # not a reminder of this patient, or the follow-up has ended


@dataclass(frozen=True)
class LogResult:
    outcome: LogOutcome
    day: date | None = None


def reminder_day(row: OutboxMessage, patient: Patient, default_tz: ZoneInfo) -> date:
    """The day a reminder was for: its due time on the patient's clock."""
    return row.due_at.astimezone(patient_tz(patient, default_tz)).date()


async def reminder_of(db: AsyncSession, patient: Patient, row_id: int) -> OutboxMessage | None:
    """The patient's own exercise reminder with this id (a forged id is None)."""
    row = await db.get(OutboxMessage, row_id)
    if row is None or row.kind != OutboxKind.EXERCISE or row.patient_id != patient.id:
        return None
    return row


async def logs_of_day(db: AsyncSession, patient_id: int, day: date) -> dict[str, set[str]]:
    """What the patient logged for `day`: exercise → {"done", "painful"}."""
    result = await db.exec(
        select(ExerciseLog).where(ExerciseLog.patient_id == patient_id, ExerciseLog.day == day)
    )
    logged: dict[str, set[str]] = defaultdict(set)
    for log in result.all():
        logged[log.exercise].add(log.kind)
    return dict(logged)


async def _painful_days(db: AsyncSession, patient_id: int, since: date) -> dict[str, list[date]]:
    result = await db.exec(
        select(ExerciseLog).where(
            ExerciseLog.patient_id == patient_id,
            ExerciseLog.kind == PAINFUL,
            col(ExerciseLog.day) >= since,
        )
    )
    days: dict[str, list[date]] = defaultdict(list)
    for log in result.all():
        days[log.exercise].append(log.day)
    return dict(days)


async def log_exercises(
    db: AsyncSession,
    protocol: Protocol,
    policy: AlertPolicy,
    *,
    patient: Patient,
    row_id: int,
    exercise: str | None,
    kind: str,
    default_tz: ZoneInfo,
    now: datetime,
) -> LogResult:
    """Log `exercise` (None: every exercise the reminder listed — "All done") as `kind`
    for the reminder's day. One commit; findings of a painful log raised with it."""
    assert patient.id is not None
    row = await reminder_of(db, patient, row_id)
    if row is None or patient.status not in LOGGING or kind not in (DONE, PAINFUL):
        await db.commit()
        return LogResult(LogOutcome.EXPIRED)
    day = reminder_day(row, patient, default_tz)
    if exercise is None:
        programme = await programme_of(db, protocol, patient.id)
        keys = [
            e.key
            for e in exercises_for_day(
                protocol, [p.exercise.key for p in programme], day, needling_day=False
            )
        ]
    elif exercise in protocol.exercises:
        keys = [exercise]
    else:
        await db.commit()
        return LogResult(LogOutcome.EXPIRED)
    already = await logs_of_day(db, patient.id, day)
    new = [key for key in keys if kind not in already.get(key, set())]
    for key in new:
        try:
            async with db.begin_nested():  # a concurrent copy of this tap may have won
                db.add(ExerciseLog(patient_id=patient.id, exercise=key, day=day, kind=kind, at=now))
        except IntegrityError:
            continue
    if not new:
        await db.commit()
        return LogResult(LogOutcome.ALREADY, day)
    audit.record(
        db,
        now=now,
        action="exercise_logged",
        actor_kind="patient",
        actor_id=patient.id,
        subject_kind="patient",
        subject_id=patient.id,
        kind=kind,
        exercises=new,
        day=day.isoformat(),
    )
    if kind == PAINFUL and exercise is not None:
        since = day - timedelta(days=protocol.exercise_plan.painful_window_days - 1)
        painful = await _painful_days(db, patient.id, since)
        findings = painful_findings(protocol, painful, exercise, day)
        await raise_findings(db, policy, patient=patient, findings=findings, now=now)
    await db.commit()
    return LogResult(LogOutcome.LOGGED, day)
