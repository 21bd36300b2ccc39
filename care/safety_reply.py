"""The patient's safety reply when nobody is at the tap to be answered.

A tapped answer gets its safety text straight back from the handler. An answer the
bot records on the patient's behalf — a multi-select draft left standing (the sweep
in care.multi_answers) — has no tap to answer, so the reply is an urgent outbox row
written in the same transaction as the answer and its alert (invariant 1): if the
alert exists, so does the patient's emergency text. The row carries keys only (tier,
advice keys), never words; bot.delivery renders it in the patient's language.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from flows.triage import Finding, Tier, highest
from store.models import OutboxKind, OutboxMessage, Patient


def queue_safety_reply(
    db: AsyncSession,
    *,
    patient: Patient,
    checkin_id: int | None,
    findings: list[Finding],
    now: datetime,
) -> OutboxMessage | None:
    """Queue the reply the patient would have seen at the tap; None when there is none.

    Only findings the patient is told about get one: URGENT, callback and SOON tiers,
    and any finding that sends the patient to the emergency text.
    """
    tier = highest(findings)
    emergency = any(f.emergency for f in findings)
    if patient.tg_user_id is None or tier is None:
        return None
    if tier is Tier.ROUTINE and not emergency:
        return None
    advice = list(dict.fromkeys(key for f in findings for key in f.advice))
    row = OutboxMessage(
        kind=OutboxKind.SAFETY_REPLY,
        chat_id=patient.tg_user_id,
        patient_id=patient.id,
        checkin_id=checkin_id,
        urgent=True,
        due_at=now,
        created_at=now,
        payload={"tier": tier.value, "emergency": emergency, "advice": advice},
    )
    db.add(row)
    return row


async def safety_reply_later(
    db: AsyncSession,
    *,
    patient: Patient,
    checkin_id: int | None,
    findings: list[Finding],
    now: datetime,
) -> bool:
    """The handler could not deliver the safety reply at the tap (Telegram refused it or
    could not be reached): it goes through the outbox instead, retried until it is sent.
    One unit of work; True when a reply was queued."""
    row = queue_safety_reply(db, patient=patient, checkin_id=checkin_id, findings=findings, now=now)
    await db.commit()
    return row is not None
