"""The therapist's daily digest: unacknowledged SOON and URGENT alerts first (oldest first,
with their age), then routine flags and silence; once a day at 08:00 local, skipped when
there is nothing to say.

Several instances may run the planning job at once; the day's marker row in
`app_state` (a primary key) lets exactly one of them queue the digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care import audit
from flows.triage import Tier
from store.models import (
    Alert,
    AlertState,
    AppState,
    Checkin,
    CheckinState,
    OutboxKind,
    OutboxMessage,
    Patient,
    Role,
    StaffMember,
)

DIGEST_AT = time(8, 0)


@dataclass(frozen=True)
class DigestItem:
    """One line of the digest, as data (the bot writes it in the clinic's language): an
    unacknowledged pushed alert with how long it has `waited`, an open routine `alert`,
    or a count of check-ins `missed` yesterday."""

    patient_id: int
    patient_name: str | None
    alert: Alert | None = None
    waited: timedelta | None = None
    missed: int = 0


def staff_tz(staff: StaffMember, default: ZoneInfo) -> ZoneInfo:
    try:
        return ZoneInfo(staff.timezone) if staff.timezone else default
    except (ZoneInfoNotFoundError, ValueError):
        return default


WAITING_TIERS = (Tier.URGENT, Tier.URGENT_CALLBACK, Tier.SOON)


async def digest_items(db: AsyncSession, therapist_id: int, *, now: datetime) -> list[DigestItem]:
    """Unacknowledged SOON/URGENT alerts (oldest first, with their age), then open routine
    flags, and check-ins left unanswered in the last day."""
    items: list[DigestItem] = []
    waiting = await db.exec(
        select(Alert, Patient)
        .join(Patient, col(Patient.id) == col(Alert.patient_id))
        .where(
            Alert.therapist_id == therapist_id,
            Alert.state == AlertState.OPEN,
            col(Alert.tier).in_([str(t) for t in WAITING_TIERS]),
        )
        .order_by(col(Alert.created_at), col(Alert.id))
    )
    for alert, patient in waiting.all():
        items.append(
            DigestItem(alert.patient_id, patient.display_name, alert, waited=now - alert.created_at)
        )
    rows = await db.exec(
        select(Alert, Patient)
        .join(Patient, col(Patient.id) == col(Alert.patient_id))
        .where(
            Alert.therapist_id == therapist_id,
            Alert.state == AlertState.OPEN,
            Alert.tier == str(Tier.ROUTINE),
        )
        .order_by(col(Alert.created_at))
    )
    for alert, patient in rows.all():
        items.append(DigestItem(alert.patient_id, patient.display_name, alert))
    missed = await db.exec(
        select(Checkin, Patient)
        .join(Patient, col(Patient.id) == col(Checkin.patient_id))
        .where(
            Patient.therapist_id == therapist_id,
            Checkin.state == CheckinState.EXPIRED,
            Checkin.reason == "expired unanswered",
            col(Checkin.finished_at) >= now - timedelta(days=1),
        )
    )
    counts: dict[int, tuple[str | None, int]] = {}
    for checkin, patient in missed.all():
        name, n = counts.get(checkin.patient_id, (patient.display_name, 0))
        counts[checkin.patient_id] = (name, n + 1)
    for patient_id, (name, n) in counts.items():
        items.append(DigestItem(patient_id, name, missed=n))
    return items


async def plan_digests(db: AsyncSession, *, now: datetime, default_tz: ZoneInfo) -> int:
    """Queue today's digest for each therapist whose 08:00 has come; at most once a day.

    A named sequence of units of work, one per therapist (the day's marker and the
    digest row together): a marker another instance wrote first rolls back that
    therapist's digest alone, and a kill mid-sweep keeps the digests already queued."""
    therapists = await db.exec(
        select(StaffMember).where(
            StaffMember.role == Role.THERAPIST, col(StaffMember.active).is_(True)
        )
    )
    queued = 0
    people = list(therapists.all())
    for person in people:  # a lost race below rolls back, which would expire them
        db.expunge(person)  # and make the next `staff.id` lazy IO (MissingGreenlet)
    for staff in people:
        assert staff.id is not None
        local = now.astimezone(staff_tz(staff, default_tz))
        if local.time() < DIGEST_AT:
            continue
        key = f"digest:{staff.id}:{local.date().isoformat()}"
        if await db.get(AppState, key) is not None:
            continue
        items = await digest_items(db, staff.id, now=now)
        db.add(AppState(key=key, value="queued" if items else "empty"))
        if items:
            db.add(
                OutboxMessage(
                    kind=OutboxKind.DIGEST,
                    chat_id=staff.tg_user_id,
                    staff_id=staff.id,
                    due_at=now,
                    created_at=now,
                    payload={"date": local.date().isoformat()},
                )
            )
        try:
            await db.commit()
        except IntegrityError:  # another instance queued it first
            await db.rollback()
            continue
        queued += bool(items)
    return queued


async def close_listed_routine(
    db: AsyncSession, therapist_id: int, *, staff_id: int | None, now: datetime
) -> None:
    """Routine flags are told once, in the digest; a new verdict opens a new one."""
    await db.exec(
        update(Alert)
        .where(
            col(Alert.therapist_id) == therapist_id,
            col(Alert.state) == AlertState.OPEN,
            col(Alert.tier) == str(Tier.ROUTINE),
        )
        .values(state=AlertState.CLOSED, updated_at=now)
    )
    audit.record(
        db,
        now=now,
        action="digest_sent",
        actor_kind="system",
        subject_kind="staff",
        subject_id=staff_id,
    )
    await db.commit()
