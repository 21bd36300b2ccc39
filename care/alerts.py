"""Clinical alerts: raised with the answer that caused them, deduplicated, escalated until
someone acknowledges, and edited everywhere they were shown when someone does.

Every push goes through the outbox in the transaction that decided it, so an alert is
never lost to a crash between "decided" and "sent".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care import audit
from flows.triage import Finding, Tier
from store.models import (
    Alert,
    AlertCopy,
    AlertState,
    OutboxMessage,
    OutboxState,
    Patient,
    Role,
    StaffMember,
)

KIND_ALERT = "alert"
KIND_ALERT_EDIT = "alert_edit"
PUSHED_TIERS = (Tier.URGENT, Tier.URGENT_CALLBACK, Tier.SOON)
URGENT_TIERS = (Tier.URGENT, Tier.URGENT_CALLBACK)


@dataclass(frozen=True)
class AlertPolicy:
    """The clinic's escalation settings (ESCALATION_MINUTES) and alert group."""

    escalation_minutes: tuple[int, ...] = (15, 60)
    alert_chat_id: int | None = None


def _alert_row(
    alert: Alert, chat_id: int, now: datetime, *, staff_id: int | None, level: int
) -> OutboxMessage:
    return OutboxMessage(
        kind=KIND_ALERT,
        chat_id=chat_id,
        patient_id=alert.patient_id,
        staff_id=staff_id,
        alert_id=alert.id,
        urgent=alert.tier in URGENT_TIERS,
        due_at=now,
        created_at=now,
        payload={"level": level},
    )


async def raise_findings(
    db: AsyncSession,
    policy: AlertPolicy,
    *,
    patient: Patient,
    findings: list[Finding],
    now: datetime,
) -> list[Alert]:
    """Store each finding as an alert (or update the open one of the same reason) and
    queue its messages. The caller commits, together with the answer that caused it."""
    raised: list[Alert] = []
    therapist = await db.get(StaffMember, patient.therapist_id)
    assert patient.id is not None
    for finding in findings:
        tier = Tier(finding.tier)
        existing = (
            await db.exec(
                select(Alert).where(
                    Alert.patient_id == patient.id,
                    Alert.reason_key == finding.reason_key,
                    Alert.state == AlertState.OPEN,
                )
            )
        ).first()
        if existing is not None:
            existing.reasons = list(finding.reasons)
            existing.occurrences += 1
            existing.updated_at = now
            if tier > Tier(existing.tier):
                existing.tier = tier
            await queue_copy_edits(db, existing, now)
            raised.append(existing)
            continue
        alert = Alert(
            patient_id=patient.id,
            therapist_id=patient.therapist_id,
            tier=tier,
            reason_key=finding.reason_key,
            reasons=list(finding.reasons),
            created_at=now,
            updated_at=now,
            next_escalation_at=(
                now + timedelta(minutes=policy.escalation_minutes[0])
                if tier == Tier.URGENT and policy.escalation_minutes
                else None
            ),
        )
        db.add(alert)
        await db.flush()
        if tier in PUSHED_TIERS and therapist is not None and therapist.active:
            db.add(_alert_row(alert, therapist.tg_user_id, now, staff_id=therapist.id, level=0))
        if tier == Tier.URGENT and policy.alert_chat_id is not None:
            db.add(_alert_row(alert, policy.alert_chat_id, now, staff_id=None, level=0))
        audit.record(
            db,
            now=now,
            action="alert_raised",
            actor_kind="system",
            subject_kind="alert",
            subject_id=alert.id,
            patient_id=patient.id,
            tier=str(tier),
            reason=finding.reason_key,
        )
        raised.append(alert)
    return raised


def queue_copy_edit(db: AsyncSession, alert: Alert, copy: AlertCopy, now: datetime) -> None:
    """Bring one shown copy of `alert` up to date (through the outbox, so it is not lost)."""
    db.add(
        OutboxMessage(
            kind=KIND_ALERT_EDIT,
            chat_id=copy.chat_id,
            patient_id=alert.patient_id,
            alert_id=alert.id,
            urgent=True,
            due_at=now,
            created_at=now,
            payload={"copy_id": copy.id},
        )
    )


async def queue_copy_edits(db: AsyncSession, alert: Alert, now: datetime) -> None:
    copies = await db.exec(select(AlertCopy).where(AlertCopy.alert_id == alert.id))
    for copy in copies.all():
        queue_copy_edit(db, alert, copy, now)


async def record_copy(db: AsyncSession, *, alert_id: int, chat_id: int, message_id: int) -> None:
    db.add(AlertCopy(alert_id=alert_id, chat_id=chat_id, message_id=message_id))


async def escalate_due(db: AsyncSession, policy: AlertPolicy, *, now: datetime) -> int:
    """The ladder: an URGENT alert nobody acknowledged goes again, to every therapist and
    admin, at each step of ESCALATION_MINUTES. Safe with several instances: a step is
    taken by whoever moves `escalation_level` first."""
    due = await db.exec(
        select(Alert).where(
            Alert.state == AlertState.OPEN,
            col(Alert.next_escalation_at).is_not(None),
            col(Alert.next_escalation_at) <= now,
        )
    )
    steps = 0
    for alert in list(due.all()):
        level = alert.escalation_level + 1
        following = policy.escalation_minutes[level : level + 1]
        next_at = alert.created_at + timedelta(minutes=following[0]) if following else None
        taken = await db.exec(
            update(Alert)
            .where(col(Alert.id) == alert.id, col(Alert.escalation_level) == level - 1)
            .values(escalation_level=level, next_escalation_at=next_at, updated_at=now)
        )
        if taken.rowcount != 1:
            continue  # another instance took this step
        people = await db.exec(
            select(StaffMember).where(
                col(StaffMember.role).in_([Role.THERAPIST, Role.ADMIN]),
                col(StaffMember.active).is_(True),
            )
        )
        for person in people.all():
            db.add(_alert_row(alert, person.tg_user_id, now, staff_id=person.id, level=level))
        if policy.alert_chat_id is not None:
            db.add(_alert_row(alert, policy.alert_chat_id, now, staff_id=None, level=level))
        audit.record(
            db,
            now=now,
            action="alert_escalated",
            actor_kind="system",
            subject_kind="alert",
            subject_id=alert.id,
            level=level,
        )
        steps += 1
    await db.commit()
    return steps


class AckOutcome(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    ALREADY = "already"
    REFUSED = "refused"


@dataclass(frozen=True)
class AckResult:
    outcome: AckOutcome
    alert: Alert | None = None
    by: StaffMember | None = None


async def may_see(db: AsyncSession, staff: StaffMember, alert: Alert) -> bool:
    """Own patients' alerts; admins see all; whoever was sent a copy (the ladder) too."""
    if not staff.active:
        return False
    if staff.role == Role.ADMIN or alert.therapist_id == staff.id:
        return True
    if staff.role != Role.THERAPIST:
        return False
    copy = await db.exec(
        select(AlertCopy).where(
            AlertCopy.alert_id == alert.id, AlertCopy.chat_id == staff.tg_user_id
        )
    )
    return copy.first() is not None


async def acknowledge(
    db: AsyncSession,
    *,
    alert_id: int,
    staff: StaffMember,
    now: datetime,
    called_back: bool = False,
) -> AckResult:
    """Stop the ladder, close the alert for everyone, and edit every copy."""
    alert = await db.get(Alert, alert_id)
    if alert is None or not await may_see(db, staff, alert):
        return AckResult(AckOutcome.REFUSED)
    if alert.state != AlertState.OPEN:
        by = await db.get(StaffMember, alert.acknowledged_by) if alert.acknowledged_by else None
        return AckResult(AckOutcome.ALREADY, alert, by)
    alert.state = AlertState.CLOSED if called_back else AlertState.ACKNOWLEDGED
    alert.acknowledged_by, alert.acknowledged_at = staff.id, now
    alert.next_escalation_at = None
    alert.updated_at = now
    await db.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.alert_id) == alert.id,
            col(OutboxMessage.kind) == KIND_ALERT,
            col(OutboxMessage.state) == OutboxState.PENDING,
        )
        .values(state=OutboxState.CANCELLED, last_error="acknowledged")
    )
    await queue_copy_edits(db, alert, now)
    audit.record(
        db,
        now=now,
        action="alert_called_back" if called_back else "alert_acknowledged",
        actor_kind="staff",
        actor_id=staff.id,
        subject_kind="alert",
        subject_id=alert.id,
    )
    await db.commit()
    return AckResult(AckOutcome.ACKNOWLEDGED, alert, staff)


async def open_alerts_for(db: AsyncSession, staff: StaffMember) -> list[Alert]:
    """Open pushed alerts this person may see, oldest first."""
    query = select(Alert).where(
        Alert.state == AlertState.OPEN, col(Alert.tier).in_([str(t) for t in PUSHED_TIERS])
    )
    if staff.role != Role.ADMIN:
        query = query.where(Alert.therapist_id == staff.id)
    result = await db.exec(query.order_by(col(Alert.created_at), col(Alert.id)))
    return list(result.all())
