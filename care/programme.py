"""A patient's home programme: the exercises their therapist picked, with the dosage set.

Every change is one unit of work: authorized (the patient's own therapist, or an admin),
a conditional write whose row count decides (a double or stale tap changes nothing),
audited, and — for a patient who has joined — ONE outbox message telling them what
changed with the new instructions (rendered by the bot edge at sending time).

A patient with no rows (enrolled before programmes existed) reads as the protocol's
default programme; the first time their therapist opens it, the default is written so
every exercise has a row to point buttons at.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care import audit
from flows.exercises import dose_step
from flows.protocol import Dosage, Exercise, Protocol
from store.models import (
    ExerciseMedia,
    OutboxKind,
    OutboxMessage,
    Patient,
    PatientStatus,
    ProgrammeItem,
    Role,
    StaffMember,
)

#: A programme can be changed while the patient is followed (or has yet to join).
CHANGEABLE = (PatientStatus.INVITED, PatientStatus.ACTIVE, PatientStatus.PAUSED)
#: The patient hears of a change only once they have joined and are followed.
TOLD = (PatientStatus.ACTIVE, PatientStatus.PAUSED)


class Outcome(StrEnum):
    DONE = "done"
    REFUSED = "refused"  # not this person's patient, or the follow-up has ended
    STALE = "stale"  # the button showed something that has changed since
    ALREADY = "already"  # the exercise is in the programme already
    FULL = "full"  # picks_max reached: remove one first
    TOO_FEW = "too_few"  # picks_min reached: add one first
    AT_LIMIT = "at_limit"  # the dosage cannot go further that way
    NO_NEXT = "no_next"  # the exercise has no progression (or it is in the programme)
    INVALID = "invalid"  # a typed dosage that cannot be read, or an unknown exercise


@dataclass(frozen=True)
class Entry:
    """One exercise of a programme as shown: its row (None for an unsaved default)."""

    item_id: int | None
    exercise: Exercise
    dosage: Dosage


@dataclass(frozen=True)
class Change:
    outcome: Outcome
    exercise: str | None = None  # the exercise changed (after a progression: the new one)
    previous: str | None = None  # a progression's old exercise
    told: bool = False  # a message to the patient was queued


def may_prescribe(staff: StaffMember, patient: Patient) -> bool:
    """The patient's own therapist, or an admin; both active."""
    if not staff.active:
        return False
    return staff.role == Role.ADMIN or (
        staff.role == Role.THERAPIST and patient.therapist_id == staff.id
    )


def _entry(protocol: Protocol, item: ProgrammeItem) -> Entry | None:
    exercise = protocol.exercises.get(item.exercise)
    if exercise is None:  # the clinic's protocol no longer has it: not shown, not sent
        return None
    dosage = replace(exercise.dosage, sets=item.sets, amount=item.amount)
    return Entry(item.id, exercise, dosage)


async def _rows(db: AsyncSession, patient_id: int) -> list[ProgrammeItem]:
    result = await db.exec(
        select(ProgrammeItem)
        .where(ProgrammeItem.patient_id == patient_id)
        .order_by(col(ProgrammeItem.position), col(ProgrammeItem.id))
    )
    return list(result.all())


async def programme_of(db: AsyncSession, protocol: Protocol, patient_id: int) -> list[Entry]:
    """The patient's programme in order; the protocol's default when none was saved."""
    rows = await _rows(db, patient_id)
    if not rows:
        return [
            Entry(None, protocol.exercises[key], protocol.exercises[key].dosage)
            for key in protocol.exercise_plan.default_programme
        ]
    return [entry for row in rows if (entry := _entry(protocol, row)) is not None]


def add_default_rows(
    db: AsyncSession, protocol: Protocol, patient_id: int, *, now: datetime
) -> None:
    """The default programme's rows, in the caller's transaction (enrollment)."""
    for position, key in enumerate(protocol.exercise_plan.default_programme):
        dosage = protocol.exercises[key].dosage
        db.add(
            ProgrammeItem(
                patient_id=patient_id,
                exercise=key,
                sets=dosage.sets,
                amount=dosage.amount,
                position=position,
                added_at=now,
            )
        )


async def _patient_for(db: AsyncSession, staff: StaffMember, patient_id: int) -> Patient | None:
    """The patient, locked for this change (PostgreSQL), when this person may change their
    programme now; else None."""
    patient = (
        await db.exec(select(Patient).where(Patient.id == patient_id).with_for_update())
    ).first()
    if patient is None or not may_prescribe(staff, patient) or patient.status not in CHANGEABLE:
        return None
    return patient


async def open_programme(
    db: AsyncSession, protocol: Protocol, *, staff: StaffMember, patient_id: int, now: datetime
) -> list[Entry] | None:
    """The programme for the therapist's Programme view; None when refused. A patient
    without rows gets the default written (one commit), so every line has a row."""
    patient = await _patient_for(db, staff, patient_id)
    if patient is None:
        await db.commit()  # nothing written: end the transaction and its lock
        return None
    if not await _rows(db, patient_id):
        add_default_rows(db, protocol, patient_id, now=now)
        audit.record(
            db,
            now=now,
            action="programme_defaulted",
            actor_kind="staff",
            actor_id=staff.id,
            subject_kind="patient",
            subject_id=patient_id,
        )
    await db.commit()
    return await programme_of(db, protocol, patient_id)


def _tell(
    db: AsyncSession,
    patient: Patient,
    *,
    change: str,
    exercise: str,
    now: datetime,
    dosage: Dosage | None = None,
    previous: str | None = None,
) -> bool:
    """The one message of a change: what changed, and the values to show (no names).
    False when the patient has not joined (they read the programme in /exercises)."""
    if patient.tg_user_id is None or patient.status not in TOLD:
        return False
    due = now
    if patient.status == PatientStatus.PAUSED and patient.paused_until is not None:
        due = max(now, patient.paused_until)
    payload: dict[str, object] = {"change": change, "exercise": exercise}
    if dosage is not None:
        payload.update(sets=dosage.sets, amount=dosage.amount)
    if previous is not None:
        payload["previous"] = previous
    db.add(
        OutboxMessage(
            kind=OutboxKind.PROGRAMME_CHANGE,
            chat_id=patient.tg_user_id,
            patient_id=patient.id,
            due_at=due,
            created_at=now,
            payload=payload,
        )
    )
    return True


def _audit(
    db: AsyncSession, staff: StaffMember, patient_id: int, *, now: datetime, **detail: object
) -> None:
    audit.record(
        db,
        now=now,
        action="programme_changed",
        actor_kind="staff",
        actor_id=staff.id,
        subject_kind="patient",
        subject_id=patient_id,
        **detail,
    )


async def _finish(db: AsyncSession, change: Change) -> Change:
    """The one commit: the change, or (refused, stale …) nothing but the end of the
    transaction and its row lock. Not a rollback: that would expire the objects the
    handler holds (staff, patient), and nothing was written."""
    await db.commit()
    return change


async def add_exercise(
    db: AsyncSession,
    protocol: Protocol,
    *,
    staff: StaffMember,
    patient_id: int,
    exercise: str,
    now: datetime,
) -> Change:
    """Add a library exercise at its default dosage, at the end."""
    patient = await _patient_for(db, staff, patient_id)
    if patient is None:
        return await _finish(db, Change(Outcome.REFUSED))
    if exercise not in protocol.exercises:
        return await _finish(db, Change(Outcome.INVALID))
    rows = await _rows(db, patient_id)
    if not rows:
        add_default_rows(db, protocol, patient_id, now=now)
        await db.flush()
        rows = await _rows(db, patient_id)
    if any(row.exercise == exercise for row in rows):
        return await _finish(db, Change(Outcome.ALREADY, exercise))
    if len(rows) >= protocol.exercise_plan.picks_max:
        return await _finish(db, Change(Outcome.FULL, exercise))
    dosage = protocol.exercises[exercise].dosage
    item = ProgrammeItem(
        patient_id=patient_id,
        exercise=exercise,
        sets=dosage.sets,
        amount=dosage.amount,
        position=max(row.position for row in rows) + 1,
        added_at=now,
        changed_by=staff.id,
    )
    try:
        async with db.begin_nested():  # only this insert undone if a concurrent tap won
            db.add(item)
    except IntegrityError:
        return await _finish(db, Change(Outcome.ALREADY, exercise))
    _audit(db, staff, patient_id, now=now, change="added", exercise=exercise)
    told = _tell(db, patient, change="added", exercise=exercise, dosage=dosage, now=now)
    return await _finish(db, Change(Outcome.DONE, exercise, told=told))


async def _item(db: AsyncSession, patient_id: int, item_id: int) -> ProgrammeItem | None:
    item = await db.get(ProgrammeItem, item_id)
    return item if item is not None and item.patient_id == patient_id else None


async def remove_exercise(
    db: AsyncSession,
    protocol: Protocol,
    *,
    staff: StaffMember,
    patient_id: int,
    item_id: int,
    now: datetime,
) -> Change:
    """Take an exercise off the programme (never below picks_min)."""
    patient = await _patient_for(db, staff, patient_id)
    if patient is None:
        return await _finish(db, Change(Outcome.REFUSED))
    item = await _item(db, patient_id, item_id)
    if item is None:
        return await _finish(db, Change(Outcome.STALE))
    count = (
        await db.exec(
            select(func.count())
            .select_from(ProgrammeItem)
            .where(ProgrammeItem.patient_id == patient_id)
        )
    ).one()
    if count <= protocol.exercise_plan.picks_min:
        return await _finish(db, Change(Outcome.TOO_FEW, item.exercise))
    removed = await db.exec(delete(ProgrammeItem).where(col(ProgrammeItem.id) == item_id))
    if removed.rowcount != 1:
        return await _finish(db, Change(Outcome.STALE))
    _audit(db, staff, patient_id, now=now, change="removed", exercise=item.exercise)
    told = _tell(db, patient, change="removed", exercise=item.exercise, now=now)
    return await _finish(db, Change(Outcome.DONE, item.exercise, told=told))


async def change_dose(
    db: AsyncSession,
    protocol: Protocol,
    *,
    staff: StaffMember,
    patient_id: int,
    item_id: int,
    shown: tuple[int, int],
    now: datetime,
    up: bool | None = None,
    typed: Dosage | None = None,
) -> Change:
    """One step up or down (`up`), or a typed dosage (`typed`), applied only if the row
    still has the `shown` (sets, amount): a second tap on the same button is stale."""
    patient = await _patient_for(db, staff, patient_id)
    if patient is None:
        return await _finish(db, Change(Outcome.REFUSED))
    item = await _item(db, patient_id, item_id)
    entry = None if item is None else _entry(protocol, item)
    if item is None or entry is None or (item.sets, item.amount) != shown:
        return await _finish(db, Change(Outcome.STALE))
    if typed is not None:
        new: Dosage | None = replace(entry.dosage, sets=typed.sets, amount=typed.amount)
    elif up is not None:
        new = dose_step(entry.dosage, up)
    else:
        new = None
    if new is None:
        return await _finish(db, Change(Outcome.AT_LIMIT, item.exercise))
    if (new.sets, new.amount) == shown:
        return await _finish(db, Change(Outcome.ALREADY, item.exercise))
    updated = await db.exec(
        update(ProgrammeItem)
        .where(
            col(ProgrammeItem.id) == item_id,
            col(ProgrammeItem.sets) == shown[0],
            col(ProgrammeItem.amount) == shown[1],
        )
        .values(sets=new.sets, amount=new.amount, changed_by=staff.id)
    )
    if updated.rowcount != 1:
        return await _finish(db, Change(Outcome.STALE))
    _audit(
        db,
        staff,
        patient_id,
        now=now,
        change="dose",
        exercise=item.exercise,
        sets=new.sets,
        amount=new.amount,
        was=list(shown),
    )
    told = _tell(db, patient, change="dose", exercise=item.exercise, dosage=new, now=now)
    return await _finish(db, Change(Outcome.DONE, item.exercise, told=told))


async def progress_exercise(
    db: AsyncSession,
    protocol: Protocol,
    *,
    staff: StaffMember,
    patient_id: int,
    item_id: int,
    exercise: str,
    now: datetime,
) -> Change:
    """Replace `exercise` (as the button showed it) by its `next`, at the next one's
    default dosage, in the same place of the programme."""
    patient = await _patient_for(db, staff, patient_id)
    if patient is None:
        return await _finish(db, Change(Outcome.REFUSED))
    item = await _item(db, patient_id, item_id)
    if item is None or item.exercise != exercise or exercise not in protocol.exercises:
        return await _finish(db, Change(Outcome.STALE))
    following = protocol.exercises[exercise].next
    rows = await _rows(db, patient_id)
    if following is None or any(row.exercise == following for row in rows):
        return await _finish(db, Change(Outcome.NO_NEXT, exercise))
    dosage = protocol.exercises[following].dosage
    try:
        async with db.begin_nested():  # a concurrent add of `following` may have won
            updated = await db.exec(
                update(ProgrammeItem)
                .where(col(ProgrammeItem.id) == item_id, col(ProgrammeItem.exercise) == exercise)
                .values(
                    exercise=following, sets=dosage.sets, amount=dosage.amount, changed_by=staff.id
                )
            )
    except IntegrityError:
        return await _finish(db, Change(Outcome.NO_NEXT, exercise))
    if updated.rowcount != 1:
        return await _finish(db, Change(Outcome.STALE))
    _audit(
        db, staff, patient_id, now=now, change="progressed", exercise=following, previous=exercise
    )
    told = _tell(
        db,
        patient,
        change="progressed",
        exercise=following,
        dosage=dosage,
        previous=exercise,
        now=now,
    )
    return await _finish(db, Change(Outcome.DONE, following, exercise, told=told))


MEDIA_KINDS = ("photo", "video", "animation")


async def set_media(
    db: AsyncSession,
    protocol: Protocol,
    *,
    staff: StaffMember,
    exercise: str,
    kind: str,
    file_id: str,
    now: datetime,
) -> bool:
    """The clinic's picture, video or GIF for a library exercise (a therapist or admin),
    replacing an earlier one; audited. False (nothing written) when refused."""
    if (
        not staff.active
        or staff.role not in (Role.THERAPIST, Role.ADMIN)
        or exercise not in protocol.exercises
        or kind not in MEDIA_KINDS
        or not 0 < len(file_id) <= 256
    ):
        await db.commit()
        return False
    media = await db.get(ExerciseMedia, exercise)
    if media is None:
        db.add(
            ExerciseMedia(
                exercise=exercise, kind=kind, file_id=file_id, set_by=staff.id, set_at=now
            )
        )
    else:
        media.kind, media.file_id, media.set_by, media.set_at = kind, file_id, staff.id, now
    audit.record(
        db,
        now=now,
        action="exercise_media_set",
        actor_kind="staff",
        actor_id=staff.id,
        exercise=exercise,
        kind=kind,
    )
    await db.commit()
    return True


async def media_of(db: AsyncSession, exercises: list[str]) -> dict[str, ExerciseMedia]:
    """The clinic's media of these exercises, by exercise."""
    if not exercises:
        return {}
    result = await db.exec(select(ExerciseMedia).where(col(ExerciseMedia.exercise).in_(exercises)))
    return {media.exercise: media for media in result.all()}
