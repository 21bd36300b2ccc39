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
from store import outbox
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
    waiting = [
        DigestItem(alert.patient_id, patient.display_name, alert, waited=now - alert.created_at)
        for alert, patient in await _open_alerts(db, therapist_id, list(WAITING_TIERS))
    ]
    routine = [
        DigestItem(alert.patient_id, patient.display_name, alert)
        for alert, patient in await _open_alerts(db, therapist_id, [Tier.ROUTINE])
    ]
    return waiting + routine + await _missed_checkins(db, therapist_id, now=now)


async def _open_alerts(
    db: AsyncSession, therapist_id: int, tiers: list[Tier]
) -> list[tuple[Alert, Patient]]:
    """The therapist's open alerts of `tiers`, with their patient, oldest first."""
    rows = await db.exec(
        select(Alert, Patient)
        .join(Patient, col(Patient.id) == col(Alert.patient_id))
        .where(
            Alert.therapist_id == therapist_id,
            Alert.state == AlertState.OPEN,
            col(Alert.tier).in_([str(t) for t in tiers]),
        )
        .order_by(col(Alert.created_at), col(Alert.id))
    )
    return list(rows.all())


async def _missed_checkins(
    db: AsyncSession, therapist_id: int, *, now: datetime
) -> list[DigestItem]:
    """One line per patient of the therapist whose check-ins closed unanswered in the last
    day, with how many."""
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
    return [DigestItem(patient_id, name, missed=n) for patient_id, (name, n) in counts.items()]


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


async def digest_sent(
    db: AsyncSession, row_id: int, *, staff_id: int, message_id: int, now: datetime
) -> None:
    """Record a therapist's digest as sent, and close the routine flags it listed; commit once.

    Routine flags are told once, in the digest (a new verdict opens a new one): they close
    in the same commit as the row's sent mark, so a kill after Telegram answered neither
    loses them unsent nor lists them again in a second digest. A row settled while it was
    on its way keeps its state (store.outbox.mark_sent)."""
    await outbox.mark_sent(db, row_id, now=now, message_id=message_id)
    await db.exec(
        update(Alert)
        .where(
            col(Alert.therapist_id) == staff_id,
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
