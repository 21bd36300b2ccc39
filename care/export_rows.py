"""Loading the answers a therapist may export, as plain rows for the CSV/FHIR writers."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care.exports import ExportRow
from flows.answers import question_words, stored_answer_words
from flows.protocol import Protocol
from store.models import Answer, Checkin, NeedlingSession, Patient, PatientStatus


async def export_rows(
    db: AsyncSession, therapist_id: int | None, *, protocol: Protocol, lang: str
) -> list[ExportRow]:
    """Every answer of the therapist's patients (None: all patients, for admins), with the
    question and the answer in words in `lang` (the reader's language).

    Erased patients are left out: their answers were deleted with them."""
    query = (
        select(Answer, Checkin, Patient, NeedlingSession)
        .join(Checkin, col(Checkin.id) == col(Answer.checkin_id))
        .join(Patient, col(Patient.id) == col(Answer.patient_id))
        .outerjoin(NeedlingSession, col(NeedlingSession.id) == col(Checkin.session_id))
        .where(Patient.status != PatientStatus.DELETED)
        .order_by(col(Patient.id), col(Answer.answered_at), col(Answer.id))
    )
    if therapist_id is not None:
        query = query.where(Patient.therapist_id == therapist_id)
    rows = await db.exec(query)
    return [
        ExportRow(
            patient_id=patient.id or 0,
            patient_name=patient.display_name,
            session_number=session.number if session is not None else None,
            checkin_key=checkin.key,
            question_key=answer.question_key,
            value=answer.value,
            answered_at=answer.answered_at,
            question_text=question_words(
                protocol, answer.question_key, lang, tuple(patient.activities)
            ),
            answer_text=stored_answer_words(protocol, answer.question_key, answer.value, lang),
        )
        for answer, checkin, patient, session in rows.all()
    ]
