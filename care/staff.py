"""Staff leave (issue 11): the staff list, deactivation and reassigning a patient.

One copy of the rules: who may deactivate whom and who may move which patient are
decided here, never in a handler. Each change is one unit of work with one commit
(invariant 9), and the change that must happen once (a deactivation, a move from one
therapist to another) is a conditional write whose row count decides who won.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care import audit
from care.alerts import AlertPolicy, reroute_waiting, waiting_alerts_of
from store.models import (
    Alert,
    AlertState,
    OutboxKind,
    OutboxMessage,
    Patient,
    PatientStatus,
    Role,
    StaffMember,
)
from store.outbox import cancel_for_chat

#: patients who still belong to a therapist: waiting to join, or in follow-up
ASSIGNED = (PatientStatus.INVITED, PatientStatus.ACTIVE, PatientStatus.PAUSED)


class StaffError(ValueError):
    """A refused staff change; the message is a text key safe to show the admin."""


@dataclass(frozen=True)
class Preview:
    """What deactivating someone would move."""

    member: StaffMember
    open_alerts: int
    patients: int


@dataclass(frozen=True)
class Deactivated:
    member: StaffMember
    moved_alerts: int
    patients: list[Patient]


async def staff_list(db: AsyncSession) -> list[StaffMember]:
    """Everyone with a staff record: active first, then by role and name."""
    result = await db.exec(
        select(StaffMember).order_by(
            col(StaffMember.active).desc(),
            col(StaffMember.role),
            col(StaffMember.name),
            col(StaffMember.id),
        )
    )
    return list(result.all())


async def patients_of(db: AsyncSession, therapist_id: int) -> list[Patient]:
    result = await db.exec(
        select(Patient)
        .where(Patient.therapist_id == therapist_id, col(Patient.status).in_(ASSIGNED))
        .order_by(col(Patient.id))
    )
    return list(result.all())


def _may_manage(admin: StaffMember) -> bool:
    return admin.active and admin.role == Role.ADMIN


async def _target(
    db: AsyncSession, admin: StaffMember, staff_id: int, admin_ids: Collection[int]
) -> StaffMember:
    if not _may_manage(admin):
        raise StaffError("not_allowed")
    member = await db.get(StaffMember, staff_id)
    if member is None:
        raise StaffError("button_expired")
    if member.id == admin.id:
        raise StaffError("staff_not_self")
    if member.tg_user_id in admin_ids:
        raise StaffError("staff_listed_admin")
    if not member.active:
        raise StaffError("staff_already_inactive")
    return member


async def preview(
    db: AsyncSession, *, admin: StaffMember, staff_id: int, admin_ids: Collection[int]
) -> Preview:
    """The confirmation screen's numbers; refuses what `deactivate` would refuse."""
    member = await _target(db, admin, staff_id, admin_ids)
    assert member.id is not None
    alerts = await waiting_alerts_of(db, member.id)
    return Preview(member, len(alerts), len(await patients_of(db, member.id)))


async def deactivate(
    db: AsyncSession,
    policy: AlertPolicy,
    *,
    admin: StaffMember,
    staff_id: int,
    admin_ids: Collection[int],
    now: datetime,
) -> Deactivated:
    """Turn someone's access off, once: their waiting alerts go to the other therapists and
    the admins, nothing more is sent to them (pending rows cancelled), and their patients
    are returned for reassignment."""
    member = await _target(db, admin, staff_id, admin_ids)
    assert member.id is not None
    taken = await db.exec(
        update(StaffMember)
        .where(col(StaffMember.id) == member.id, col(StaffMember.active).is_(True))
        .values(active=False, deactivated_at=now, deactivated_by=admin.id)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # a second tap, or another admin a moment ago
        raise StaffError("staff_already_inactive")
    await db.refresh(member)
    await cancel_for_chat(db, member.tg_user_id, reason="staff deactivated")
    moved = await reroute_waiting(db, policy, therapist_id=member.id, now=now)
    patients = await patients_of(db, member.id)
    audit.record(
        db,
        now=now,
        action="staff_deactivated",
        actor_kind="staff",
        actor_id=admin.id,
        subject_kind="staff",
        subject_id=member.id,
        alerts_moved=moved,
        patients=len(patients),
    )
    await db.commit()
    return Deactivated(member, moved, patients)


def may_reassign(actor: StaffMember, patient: Patient) -> bool:
    """Admins move any patient (a therapist who left cannot hand over); a therapist hands
    over their own patients only (leave, a referral), never takes someone else's."""
    if not actor.active:
        return False
    return actor.role == Role.ADMIN or (
        actor.role == Role.THERAPIST and patient.therapist_id == actor.id
    )


async def reassignable(db: AsyncSession, actor: StaffMember) -> list[Patient]:
    """The patients `actor` may move, most recent first (the /reassign picker)."""
    query = select(Patient).where(col(Patient.status).in_(ASSIGNED))
    if actor.role != Role.ADMIN:
        query = query.where(Patient.therapist_id == actor.id)
    result = await db.exec(query.order_by(col(Patient.id).desc()).limit(50))
    return [p for p in result.all() if may_reassign(actor, p)]


async def targets_for(db: AsyncSession, patient: Patient) -> list[StaffMember]:
    """Active therapists a patient may move to (not the one they have)."""
    result = await db.exec(
        select(StaffMember)
        .where(
            StaffMember.role == Role.THERAPIST,
            col(StaffMember.active).is_(True),
            StaffMember.id != patient.therapist_id,
        )
        .order_by(col(StaffMember.name), col(StaffMember.id))
    )
    return list(result.all())


async def checked_patient(db: AsyncSession, actor: StaffMember, patient_id: int) -> Patient:
    patient = await db.get(Patient, patient_id)
    if patient is None or patient.status not in ASSIGNED:
        raise StaffError("button_expired")
    if not may_reassign(actor, patient):
        raise StaffError("not_allowed")
    return patient


async def reassign(
    db: AsyncSession,
    *,
    actor: StaffMember,
    patient_id: int,
    therapist_id: int,
    now: datetime,
) -> tuple[Patient, StaffMember]:
    """Move a patient to another active therapist, once; their waiting and routine alerts
    follow them, and the patient is told who their therapist is now (through the outbox)."""
    patient = await checked_patient(db, actor, patient_id)
    target = await db.get(StaffMember, therapist_id)
    if target is None or not target.active or target.role != Role.THERAPIST:
        raise StaffError("reassign_bad_target")
    if target.id == patient.therapist_id:
        raise StaffError("reassign_same")
    old = patient.therapist_id
    taken = await db.exec(
        update(Patient)
        .where(col(Patient.id) == patient.id, col(Patient.therapist_id) == old)
        .values(therapist_id=target.id)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        raise StaffError("button_expired")
    await db.exec(
        update(Alert)
        .where(
            col(Alert.patient_id) == patient.id,
            col(Alert.therapist_id) == old,
            col(Alert.state).in_([AlertState.OPEN, AlertState.ACKNOWLEDGED]),
        )
        .values(therapist_id=target.id)
        .execution_options(synchronize_session=False)
    )
    await db.refresh(patient)
    if patient.tg_user_id is not None and patient.status != PatientStatus.INVITED:
        db.add(
            OutboxMessage(
                kind=OutboxKind.THERAPIST_CHANGED,
                chat_id=patient.tg_user_id,
                patient_id=patient.id,
                staff_id=None,
                due_at=now,
                created_at=now,
                payload={"therapist_id": target.id},
            )
        )
    audit.record(
        db,
        now=now,
        action="patient_reassigned",
        actor_kind="staff",
        actor_id=actor.id,
        subject_kind="patient",
        subject_id=patient.id,
        from_staff=old,
        to_staff=target.id,
    )
    await db.commit()
    return patient, target
