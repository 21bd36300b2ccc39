"""A patient who blocked the bot is a state of the patient, not an error to retry.

Telegram answers 403 once the person has blocked the bot; every further message
would fail the same way. So the first 403 marks the patient unreachable, stops
everything still queued for them, and tells the treating therapist once —
the clinic has to reach the patient another way (design invariant 5).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care import audit
from store.models import OutboxKind, OutboxMessage, Patient, PatientStatus, StaffMember
from store.outbox import cancel_for_chat

log = logging.getLogger(__name__)

CANCEL_REASON = "patient blocked the bot"

# Only patients still in follow-up change state: a stopped, discharged or erased
# patient who blocks the bot is no news for the therapist (and an erased one
# must stay erased).
_IN_FOLLOW_UP = (PatientStatus.INVITED, PatientStatus.ACTIVE, PatientStatus.PAUSED)


async def mark_unreachable(db: AsyncSession, *, chat_id: int, now: datetime) -> bool:
    """Mark the patient of `chat_id` unreachable and notify their therapist; commit once.

    Returns True only for the call that changed the patient. The status change
    is one guarded ``UPDATE … WHERE status IN (…) RETURNING`` issued first in
    the transaction, so when two rows of the same patient get 403 at once (two
    tasks, or two processes) exactly one caller wins and exactly one notice is
    written; the others find nothing to update. Rows still queued for the chat
    are cancelled either way. Call it on a session with no transaction open.
    """
    marked = await _mark(db, chat_id=chat_id, now=now)
    await db.commit()
    if marked is None:
        return False
    patient_id, cancelled = marked
    log.info("patient %d unreachable (blocked the bot); %d rows cancelled", patient_id, cancelled)
    return True


async def _mark(db: AsyncSession, *, chat_id: int, now: datetime) -> tuple[int, int] | None:
    """mark_unreachable's writes: (patient id, rows cancelled) when this call changed the
    patient, None when it found nothing to change."""
    marked = (
        await db.exec(
            update(Patient)
            .where(
                col(Patient.tg_user_id) == chat_id,
                col(Patient.status).in_(list(_IN_FOLLOW_UP)),
            )
            .values(status=PatientStatus.UNREACHABLE)
            .returning(col(Patient.id), col(Patient.therapist_id))
            .execution_options(synchronize_session=False)
        )
    ).first()
    if marked is None:
        # Already unreachable, or no longer followed: still stop what is queued for
        # them. A chat that is not a patient's (a therapist who blocked the bot) is
        # left alone; the dispatcher fails that one row.
        is_patient = (
            await db.exec(select(Patient.id).where(col(Patient.tg_user_id) == chat_id))
        ).first()
        if is_patient is not None:
            await cancel_for_chat(db, chat_id, reason=CANCEL_REASON)
        return None
    cancelled = await cancel_for_chat(db, chat_id, reason=CANCEL_REASON)
    patient_id, therapist_id = int(marked[0]), int(marked[1])
    await _tell_therapist(db, patient_id, therapist_id, now=now)
    audit.record(
        db,
        now=now,
        action="patient_unreachable",
        actor_kind="system",
        subject_kind="patient",
        subject_id=patient_id,
        cancelled=cancelled,
    )
    return patient_id, cancelled


async def _tell_therapist(
    db: AsyncSession, patient_id: int, therapist_id: int, *, now: datetime
) -> None:
    """Queue the one "patient unreachable" notice to the treating therapist (none for a
    therapist who never joined the bot)."""
    therapist_chat = (
        await db.exec(select(StaffMember.tg_user_id).where(StaffMember.id == therapist_id))
    ).first()
    if therapist_chat is None:
        return
    db.add(
        OutboxMessage(
            kind=OutboxKind.PATIENT_UNREACHABLE,
            chat_id=therapist_chat,
            patient_id=patient_id,
            staff_id=therapist_id,
            payload={"patient_id": patient_id},
            urgent=False,
            due_at=now,
            created_at=now,
        )
    )
