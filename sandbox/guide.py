"""The hints above each pane and the patient pane's name, following the journey.

A first-time visitor reads the hint of the pane they should act in next: the front
desk enrolls, the patient opens the link and agrees, check-ins come (Jump brings the
next one), a warning sign reaches the therapist, who acknowledges it. What the hints
say is read from the database the bot writes, never from the page's own guesses.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from sandbox.people import ADMIN, PATIENT, STAFF, THERAPIST
from store.models import Alert, AlertState, Patient, PatientStatus

Json = dict[str, Any]

_ENDED = {
    PatientStatus.DECLINED: "declined the follow-up",
    PatientStatus.STOPPED: "stopped the follow-up",
    PatientStatus.DISCHARGED: "was discharged",
    PatientStatus.UNREACHABLE: "blocked the bot",
    PatientStatus.DELETED: "erased their data",
}


async def _patient_in_pane(db: AsyncSession) -> Patient | None:
    """The patient this pane's account joined as, else the newest one waiting to join."""
    joined = (await db.exec(select(Patient).where(Patient.tg_user_id == PATIENT.user_id))).first()
    if joined is not None:
        return joined
    return (
        await db.exec(
            select(Patient)
            .where(Patient.status == PatientStatus.INVITED, col(Patient.tg_user_id).is_(None))
            .order_by(col(Patient.id).desc())
        )
    ).first()


async def _open_alerts(db: AsyncSession) -> int:
    return len((await db.exec(select(Alert.id).where(Alert.state == AlertState.OPEN))).all())


def _patient_hint(patient: Patient | None) -> str:
    if patient is None:
        return "Patient: nothing yet. The front desk enrolls you first."
    if patient.tg_user_id is None:
        return "Patient: tap the join link in the front desk's chat to open it here."
    if patient.status == PatientStatus.INVITED:
        return "Patient: read the consent and tap “I agree”."
    if patient.status == PatientStatus.PAUSED:
        return "Patient: paused. /resume starts the check-ins again."
    if patient.status in _ENDED:
        return f"Patient: {_ENDED[PatientStatus(patient.status)]}. Reset sandbox to start over."
    return "Patient: answer the check-ins. ⏭ Jump to next message brings the next one."


def _desk_hint(patient: Patient | None) -> str:
    if patient is None:
        return "Front desk: type /enroll (or tap it below) to enroll a patient."
    if patient.tg_user_id is None:
        return "Front desk: tap the join link to open it in the Patient pane."
    return "Front desk: /session records the next session, /discharge ends the follow-up."


def _therapist_hint(open_alerts: int) -> str:
    if open_alerts:
        return "Therapist: an alert is open. Tap Acknowledge, then Call back done."
    return "Therapist: alerts arrive here. Answer a check-in with 9/10 pain to see one."


async def pane_meta(db: AsyncSession) -> list[Json]:
    """Each pane's hint, and who the patient pane's person is enrolled as."""
    patient = await _patient_in_pane(db)
    enrolled = patient.display_name if patient is not None else None
    return [
        {"key": STAFF.key, "hint": _desk_hint(patient)},
        {"key": PATIENT.key, "hint": _patient_hint(patient), "enrolled_as": enrolled},
        {"key": THERAPIST.key, "hint": _therapist_hint(await _open_alerts(db))},
        {"key": ADMIN.key, "hint": ADMIN.hint},
    ]
