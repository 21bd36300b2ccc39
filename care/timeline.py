"""What the bot will do next, and when: the next moment a person will see something.

The sandbox's "next:" and "Jump to next message" use it. A pending outbox row is not
enough: a row of a patient who has ended is cancelled when it falls due (nothing is
seen), a paused patient's row waits until the pause ends, an exercise reminder of a
patient who switched reminders off is cancelled, and an unacknowledged URGENT alert
escalates with no row at all. The rules are the dispatcher's own (care/checkins.py's
``patient_gate``, ``ENDED_STATUSES``) and care/alerts.py's ``next_escalation``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care.alerts import next_escalation
from care.checkins import ENDED_STATUSES
from store.models import OutboxKind, OutboxMessage, OutboxState, Patient, PatientStatus


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _next_row(db: AsyncSession) -> datetime | None:
    """The earliest pending row that will be sent, not cancelled, when it falls due."""
    pending = OutboxMessage.state == OutboxState.PENDING
    staff_rows = (
        await db.exec(
            select(func.min(OutboxMessage.due_at)).where(
                pending, col(OutboxMessage.patient_id).is_(None)
            )
        )
    ).first()
    per_patient = await db.exec(
        select(Patient, func.min(OutboxMessage.due_at))
        .join(OutboxMessage, col(OutboxMessage.patient_id) == col(Patient.id))
        .where(
            pending,
            col(Patient.status).not_in([str(s) for s in ENDED_STATUSES]),
            or_(
                col(OutboxMessage.kind) != OutboxKind.EXERCISE,
                and_(
                    col(Patient.exercise_reminders).is_(True),
                    col(Patient.status) != PatientStatus.PAUSED,
                ),
            ),
        )
        .group_by(col(Patient.id))
    )
    moments = [_aware(staff_rows)]
    for patient, first_due in per_patient.all():
        due = _aware(first_due)
        paused_until = _aware(patient.paused_until)
        if due is not None and patient.status == PatientStatus.PAUSED and paused_until is not None:
            due = max(due, paused_until)
        moments.append(due)
    known = [m for m in moments if m is not None]
    return min(known) if known else None


async def next_moment(db: AsyncSession) -> datetime | None:
    """When the bot will next send something or escalate an alert (None: nothing planned)."""
    moments = [await _next_row(db), _aware(await next_escalation(db))]
    known = [m for m in moments if m is not None]
    return min(known) if known else None
