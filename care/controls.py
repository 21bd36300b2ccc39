"""What a patient can do about their own follow-up: pause, resume, stop, settings."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from care import audit
from care.checkins import release_waiting
from care.context import patient_tz
from care.planning import (
    cancel_pending,
    cancel_scheduled_checkins,
    notify_therapist,
    replan_exercise_reminder,
)
from flows.protocol import Protocol
from store.models import ConsentEvent, OutboxKind, OutboxMessage, Patient, PatientStatus

PAUSE_DAYS = (1, 3, 7)

#: "Remind me later" on an exercise reminder: it comes back this much later, and is dropped
#: if it could not go out within SNOOZE_EXPIRES (a snoozed reminder is never "too late").
SNOOZE = timedelta(hours=1)
SNOOZE_EXPIRES = timedelta(hours=4)


class ControlError(ValueError):
    """A request that cannot be applied; the message is a text key safe to show."""


def _require_following(patient: Patient) -> None:
    if patient.status not in (PatientStatus.ACTIVE, PatientStatus.PAUSED):
        raise ControlError("patient_inactive")


async def pause(db: AsyncSession, patient: Patient, *, days: int, now: datetime) -> datetime:
    """Hold everything for `days`; check-ins that run out meanwhile simply expire."""
    _require_following(patient)
    if days not in PAUSE_DAYS:
        raise ControlError("button_expired")
    patient.status = PatientStatus.PAUSED
    patient.paused_until = now + timedelta(days=days)
    audit.record(
        db,
        now=now,
        action="patient_paused",
        actor_kind="patient",
        actor_id=patient.id,
        subject_kind="patient",
        subject_id=patient.id,
        days=days,
    )
    await db.commit()
    return patient.paused_until


async def resume(
    db: AsyncSession,
    protocol: Protocol,
    patient: Patient,
    *,
    default_tz: ZoneInfo,
    now: datetime,
) -> None:
    """Back to normal: what fell due in the pause goes now, reminders resume from today."""
    if patient.status != PatientStatus.PAUSED:
        raise ControlError("not_paused")
    patient.status = PatientStatus.ACTIVE
    patient.paused_until = None
    assert patient.id is not None
    await release_waiting(db, patient.id, now)
    await replan_exercise_reminder(db, protocol, patient=patient, default_tz=default_tz, now=now)
    audit.record(
        db,
        now=now,
        action="patient_resumed",
        actor_kind="patient",
        actor_id=patient.id,
        subject_kind="patient",
        subject_id=patient.id,
    )
    await db.commit()


class SnoozeOutcome(StrEnum):
    SNOOZED = "snoozed"
    ALREADY = "already"  # this reminder was snoozed already (a double tap, an old copy)
    STALE = "stale"  # not this patient's sent reminder, or not from today


async def snooze_exercise(
    db: AsyncSession, patient: Patient, *, reminder_id: int, default_tz: ZoneInfo, now: datetime
) -> SnoozeOutcome:
    """The exercise reminder's "later" button: one more reminder in an hour. One commit.

    The button is open while its reminder is: the patient's own sent reminder, on the
    local day it was sent. An older tap (a two-day-old message) changes nothing, and a
    reminder is snoozed once however often its button is tapped."""
    assert patient.id is not None and patient.tg_user_id is not None
    reminder = await db.get(OutboxMessage, reminder_id) if reminder_id else None
    tz = patient_tz(patient, default_tz)
    if (
        reminder is None
        or reminder.patient_id != patient.id
        or reminder.kind != OutboxKind.EXERCISE
        or reminder.sent_at is None
        or reminder.sent_at.astimezone(tz).date() != now.astimezone(tz).date()
    ):
        return SnoozeOutcome.STALE
    copies = await db.exec(
        select(OutboxMessage).where(
            OutboxMessage.kind == OutboxKind.EXERCISE,
            OutboxMessage.patient_id == patient.id,
            OutboxMessage.created_at >= reminder.sent_at,
        )
    )
    if any(c.payload.get("snoozed_from") == reminder_id for c in copies.all()):
        return SnoozeOutcome.ALREADY
    db.add(
        OutboxMessage(
            kind=OutboxKind.EXERCISE,
            chat_id=patient.tg_user_id,
            patient_id=patient.id,
            due_at=now + SNOOZE,
            expires_at=now + SNOOZE_EXPIRES,
            payload={"snoozed": True, "snoozed_from": reminder_id},
            created_at=now,
        )
    )
    await db.commit()
    return SnoozeOutcome.SNOOZED


async def stop_exercise_reminders(db: AsyncSession, patient: Patient) -> None:
    """The exercise reminder's "stop" button: reminders off and the queued ones
    cancelled, in one commit."""
    assert patient.id is not None
    patient.exercise_reminders = False
    await cancel_pending(
        db, patient_id=patient.id, reason="reminders switched off", kinds=(OutboxKind.EXERCISE,)
    )
    await db.commit()


async def stop(db: AsyncSession, patient: Patient, *, text_version: str, now: datetime) -> None:
    """Withdraw: cancel everything pending, record it, and tell the therapist once."""
    _require_following(patient)
    assert patient.id is not None
    patient.status = PatientStatus.STOPPED
    patient.ended_at = now
    patient.paused_until = None
    await cancel_pending(db, patient_id=patient.id, reason="patient stopped")
    await cancel_scheduled_checkins(db, patient_id=patient.id, reason="patient stopped")
    db.add(
        ConsentEvent(patient_id=patient.id, decision="withdrawn", text_version=text_version, at=now)
    )
    await notify_therapist(db, patient, text_key="notice_stopped", now=now)
    audit.record(
        db,
        now=now,
        action="patient_stopped",
        actor_kind="patient",
        actor_id=patient.id,
        subject_kind="patient",
        subject_id=patient.id,
    )
    await db.commit()


def parse_reminder_time(raw: str) -> str:
    parts = raw.strip().replace(".", ":").split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ControlError("settings_time_bad")
    try:
        value = time(int(parts[0]), int(parts[1]))
    except ValueError:
        raise ControlError("settings_time_bad") from None
    return value.strftime("%H:%M")


_TZ_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$")


def parse_timezone(raw: str) -> str:
    """An IANA zone name such as Europe/Madrid; anything else is refused before it reaches
    the zone database (which reads files by that name)."""
    name = raw.strip()
    if len(name) > 64 or not _TZ_NAME.match(name):
        raise ControlError("settings_tz_bad")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a folder of the zone database ("Europe") or a name too long for a file
        raise ControlError("settings_tz_bad") from None
    if "/" not in name and name != "UTC":
        raise ControlError("settings_tz_bad")
    return name


async def change_settings(
    db: AsyncSession,
    protocol: Protocol,
    patient: Patient,
    *,
    default_tz: ZoneInfo,
    now: datetime,
    reminder_time: str | None = None,
    timezone: str | None = None,
    language: str | None = None,
) -> None:
    """Apply validated settings; the next exercise reminder is replanned to match."""
    _require_following(patient)
    if reminder_time is not None:
        patient.reminder_time = parse_reminder_time(reminder_time)
    if timezone is not None:
        patient.timezone = parse_timezone(timezone)
    if language is not None:
        if language not in protocol.info.languages:
            raise ControlError("button_expired")
        patient.language = language
    if reminder_time is not None or timezone is not None:
        await replan_exercise_reminder(
            db, protocol, patient=patient, default_tz=default_tz, now=now
        )
    await db.commit()
