"""Writing a patient's plan to the outbox, in the transaction of the event that causes it.

Session check-ins are planned all at once from the session's end (T0). Course
check-ins (weekly, Sunday adherence) and exercise reminders roll: exactly one is
pending at a time, and the next is planned when the current one leaves the queue —
so a plan that runs "until discharge" never needs an unbounded number of rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care.context import course_start, latest_session, patient_tz, sessions_of
from flows.planner import (
    next_exercise_reminder,
    next_weekday_checkin,
    next_weekly_checkin,
    plan_session_checkins,
)
from flows.protocol import CourseWeekly, OnWeekday, Protocol
from store import outbox
from store.models import (
    Checkin,
    CheckinState,
    NeedlingSession,
    OutboxKind,
    OutboxMessage,
    Patient,
    PatientStatus,
    StaffMember,
)

#: why a course check-in was closed early: a session check-in fell due (not a miss)
CLOSED_FOR_SESSION = "closed for a session check-in"
# Who still gets that edit: a paused or discharged patient does; a stopped, erased,
# declined or unreachable one is sent nothing more.
EDITABLE_STATUSES = (PatientStatus.ACTIVE, PatientStatus.PAUSED, PatientStatus.DISCHARGED)
# An exercise reminder later than this is dropped (and the next one planned). Check-in and
# reminder rows carry no row-level expiry: their "too late" rules live with them in care/,
# because expiring one must also plan what follows it.
EXERCISE_LATE_AFTER = timedelta(hours=6)
FIRST_WEEK = timedelta(days=6)


async def notify_therapist(
    db: AsyncSession, patient: Patient, *, text_key: str, now: datetime
) -> None:
    """Queue a notice about `patient` for their therapist (in the caller's transaction)."""
    therapist = await db.get(StaffMember, patient.therapist_id)
    if therapist is None or not therapist.active:
        return
    db.add(
        OutboxMessage(
            kind=OutboxKind.NOTICE,
            chat_id=therapist.tg_user_id,
            staff_id=therapist.id,
            patient_id=patient.id,
            payload={"text": text_key},
            due_at=now,
            created_at=now,
        )
    )


def queue_closed_edit(
    db: AsyncSession, checkin: Checkin, patient: Patient | None, now: datetime
) -> None:
    """A sent check-in stopped being open without being done: queue the edit that takes its
    answer buttons away (in the caller's transaction, like every message that must not be
    lost). Nothing for a check-in never shown, nor for a patient who is sent nothing more."""
    if (
        checkin.chat_message_id is None
        or patient is None
        or patient.tg_user_id is None
        or patient.status not in EDITABLE_STATUSES
    ):
        return
    db.add(
        OutboxMessage(
            kind=OutboxKind.CHECKIN_CLOSED,
            chat_id=patient.tg_user_id,
            patient_id=patient.id,
            checkin_id=checkin.id,
            payload={"message_id": checkin.chat_message_id},
            due_at=now,
            created_at=now,
        )
    )


def reminder_time_of(patient: Patient) -> time:
    hours, minutes = patient.reminder_time.split(":")
    return time(int(hours), int(minutes))


def _checkin_row(patient: Patient, checkin: Checkin, now: datetime) -> OutboxMessage:
    assert patient.tg_user_id is not None
    return OutboxMessage(
        kind=OutboxKind.CHECKIN,
        chat_id=patient.tg_user_id,
        patient_id=patient.id,
        checkin_id=checkin.id,
        due_at=checkin.due_at,
        created_at=now,
    )


async def cancel_pending(
    db: AsyncSession, *, patient_id: int, reason: str, kinds: tuple[str, ...] | None = None
) -> int:
    """Cancel a patient's pending (and in-flight) outbox rows, optionally of some kinds only."""
    where = [col(OutboxMessage.patient_id) == patient_id]
    if kinds is not None:
        where.append(col(OutboxMessage.kind).in_(kinds))
    return await outbox.cancel_queued(db, *where, reason=reason)


async def cancel_scheduled_checkins(db: AsyncSession, *, patient_id: int, reason: str) -> None:
    await db.exec(
        update(Checkin)
        .where(
            col(Checkin.patient_id) == patient_id,
            col(Checkin.state).in_([CheckinState.SCHEDULED, CheckinState.OPEN]),
        )
        .values(state=CheckinState.CANCELLED, reason=reason[:200])
    )


async def plan_session(
    db: AsyncSession,
    protocol: Protocol,
    *,
    patient: Patient,
    session: NeedlingSession,
    tz: ZoneInfo,
    now: datetime,
) -> list[Checkin]:
    """Plan one session's check-ins; supersede what is still pending or open from earlier ones."""
    assert patient.id is not None and session.id is not None
    superseding = [c.key for c in protocol.session_checkins() if c.superseded_by_new_session]
    old = await db.exec(
        select(Checkin).where(
            Checkin.patient_id == patient.id,
            col(Checkin.session_id) != session.id,
            col(Checkin.key).in_(superseding),
            # an open one too: its questions are about the old session, and it would hold
            # the new session's first check-in back until it expired
            col(Checkin.state).in_([CheckinState.SCHEDULED, CheckinState.OPEN]),
        )
    )
    for checkin in old.all():
        was_open = checkin.state == CheckinState.OPEN
        checkin.state = CheckinState.CANCELLED
        checkin.reason = f"superseded by session {session.number}"
        await outbox.cancel_queued(
            db,
            col(OutboxMessage.checkin_id) == checkin.id,
            reason="superseded by a new session",
            claimed_too=False,
        )
        if was_open:  # after the update above, which would cancel it too
            queue_closed_edit(db, checkin, patient, now)
    created: list[Checkin] = []
    for planned in plan_session_checkins(protocol, session_end=session.ended_at, tz=tz, now=now):
        checkin = Checkin(
            patient_id=patient.id,
            session_id=session.id,
            key=planned.key,
            due_at=planned.due_at,
            expires_at=planned.expires_at,
            state=CheckinState.SKIPPED if planned.skipped else CheckinState.SCHEDULED,
            reason=planned.skip_reason,
        )
        db.add(checkin)
        created.append(checkin)
    await db.flush()
    for checkin in created:
        if checkin.state == CheckinState.SCHEDULED:
            db.add(_checkin_row(patient, checkin, now))
    return created


async def plan_next_course_checkin(
    db: AsyncSession,
    protocol: Protocol,
    *,
    patient: Patient,
    key: str,
    after: datetime,
    tz: ZoneInfo,
    now: datetime,
) -> Checkin | None:
    """Plan the next weekly / weekday check-in of `key` after `after` (one pending at a time)."""
    assert patient.id is not None
    start = await course_start(db, patient.id)
    session = await latest_session(db, patient.id)
    if start is None or session is None:
        return None
    definition = protocol.checkins[key]
    if isinstance(definition.schedule, CourseWeekly):
        due = next_weekly_checkin(protocol, course_start=start, after=after, tz=tz, key=key)
    elif isinstance(definition.schedule, OnWeekday):
        due = next_weekday_checkin(
            protocol,
            course_start=start.astimezone(tz).date(),
            after=after,
            tz=tz,
            reminder_time=reminder_time_of(patient),
            key=key,
        )
    else:
        return None
    due = due.astimezone(UTC)
    expiry = definition.expiry.after or timedelta(hours=24)
    checkin = Checkin(
        patient_id=patient.id,
        session_id=session.id,
        key=key,
        due_at=due,
        expires_at=due + expiry,
    )
    db.add(checkin)
    await db.flush()
    db.add(_checkin_row(patient, checkin, now))
    return checkin


async def plan_next_exercise_reminder(
    db: AsyncSession,
    protocol: Protocol,
    *,
    patient: Patient,
    after: datetime,
    tz: ZoneInfo,
    now: datetime,
) -> OutboxMessage | None:
    """The next daily/three-weekly exercise reminder at the patient's chosen time."""
    assert patient.id is not None and patient.tg_user_id is not None
    if not patient.exercise_reminders:
        return None
    start = await course_start(db, patient.id)
    if start is None:
        return None
    due = next_exercise_reminder(
        protocol,
        course_start=start.astimezone(tz).date(),
        after=after,
        tz=tz,
        reminder_time=reminder_time_of(patient),
    ).astimezone(UTC)
    row = OutboxMessage(
        kind=OutboxKind.EXERCISE,
        chat_id=patient.tg_user_id,
        patient_id=patient.id,
        due_at=due,
        created_at=now,
    )
    db.add(row)
    return row


async def plan_after_consent(
    db: AsyncSession,
    protocol: Protocol,
    *,
    patient: Patient,
    default_tz: ZoneInfo,
    now: datetime,
) -> None:
    """Everything a newly consenting patient is due: their sessions' check-ins, the course
    check-ins and the first exercise reminder. Runs in the consent's transaction."""
    assert patient.id is not None
    tz = patient_tz(patient, default_tz)
    for session in await sessions_of(db, patient.id):
        await plan_session(db, protocol, patient=patient, session=session, tz=tz, now=now)
    start = await course_start(db, patient.id)
    assert start is not None
    for definition in protocol.checkins.values():
        if isinstance(definition.schedule, CourseWeekly | OnWeekday):
            # "how many days this week" makes sense only once a week of the course is over
            first = start + FIRST_WEEK if isinstance(definition.schedule, OnWeekday) else start
            await plan_next_course_checkin(
                db,
                protocol,
                patient=patient,
                key=definition.key,
                after=max(first, now),
                tz=tz,
                now=now,
            )
    await plan_next_exercise_reminder(db, protocol, patient=patient, after=now, tz=tz, now=now)


async def replan_exercise_reminder(
    db: AsyncSession,
    protocol: Protocol,
    *,
    patient: Patient,
    default_tz: ZoneInfo,
    now: datetime,
) -> None:
    """After a change of reminder time, time zone or the reminders switch."""
    assert patient.id is not None
    await cancel_pending(
        db, patient_id=patient.id, reason="reminder replanned", kinds=(OutboxKind.EXERCISE,)
    )
    await plan_next_exercise_reminder(
        db, protocol, patient=patient, after=now, tz=patient_tz(patient, default_tz), now=now
    )
