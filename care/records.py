"""The end of a course and the patient's data rights: discharge, a copy of their data,
erasure, and passing their own words to their therapist."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, update
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care import audit
from care.alerts import AlertPolicy, raise_findings, recipients, waiting
from care.planning import (
    cancel_pending,
    cancel_scheduled_checkins,
    notify_therapist,
)
from care.sessions import FOLLOWED
from flows.answers import question_words, stored_answer_words
from flows.protocol import Protocol
from flows.triage import triage_patient_message
from store import outbox
from store.models import (
    Alert,
    AlertCopy,
    AlertState,
    Answer,
    AnswerDraft,
    Checkin,
    CheckinState,
    ConsentEvent,
    ExerciseLog,
    LinkToken,
    NeedlingSession,
    OutboxKind,
    OutboxMessage,
    Patient,
    PatientNote,
    PatientStatus,
    ProgrammeItem,
    StaffMember,
)

NOTE_MAX = 4000
# what an erased patient's outbox rows keep as chat id (the column is NOT NULL): no chat
ERASED_CHAT_ID = 0


class RecordError(ValueError):
    """A request that cannot be applied; the message is a text key safe to show."""


@dataclass(frozen=True)
class StillOpen:
    """What a discharge would leave behind or stop: shown before staff confirm it."""

    patient: Patient
    alerts: list[Alert]  # waiting for someone: not acknowledged, or a callback not done
    open_checkins: int  # sent, not answered yet
    planned_checkins: int  # not sent yet


#: what a discharge stops: the patient's own messages. Alert cards, their edits and the
#: notices to staff are not cancelled: an open alert stays the therapist's to answer.
_PATIENT_KINDS = (
    OutboxKind.CHECKIN,
    OutboxKind.NUDGE,
    OutboxKind.CHECKIN_CLOSED,
    OutboxKind.EXERCISE,
)


async def still_open(db: AsyncSession, *, patient_id: int) -> StillOpen:
    """Before a discharge: the patient's alerts still waiting and their pending check-ins.
    Raises `RecordError` when the patient is not in follow-up (any more)."""
    patient = await db.get(Patient, patient_id)
    if patient is None or patient.status not in FOLLOWED:
        raise RecordError(_gone_key(patient))
    alerts = (
        await db.exec(
            select(Alert)
            .where(
                Alert.patient_id == patient_id,
                col(Alert.state).in_([AlertState.OPEN, AlertState.ACKNOWLEDGED]),
            )
            .order_by(col(Alert.created_at), col(Alert.id))
        )
    ).all()
    states = (
        await db.exec(
            select(Checkin.state).where(
                Checkin.patient_id == patient_id,
                col(Checkin.state).in_([CheckinState.OPEN, CheckinState.SCHEDULED]),
            )
        )
    ).all()
    return StillOpen(
        patient=patient,
        alerts=[a for a in alerts if waiting(a)],
        open_checkins=sum(1 for s in states if s == CheckinState.OPEN),
        planned_checkins=sum(1 for s in states if s == CheckinState.SCHEDULED),
    )


def _gone_key(patient: Patient | None) -> str:
    if patient is not None and patient.status == PatientStatus.DISCHARGED:
        return "discharge_already"
    return "session_patient_gone"


async def discharge(
    db: AsyncSession, *, patient_id: int, staff: StaffMember, now: datetime
) -> Patient:
    """End the course: nothing more is sent but a closing message with the exercise plan
    to keep, and the therapist is told. Open alerts stay open for the therapist.

    Once: a conditional write from a followed state decides (invariant 9), so a double
    tap on "Yes, discharge", or an old confirmation tapped later, discharges nothing more
    (`RecordError("discharge_already")`)."""
    patient = await db.get(Patient, patient_id)
    if patient is None or patient.status not in FOLLOWED:
        raise RecordError(_gone_key(patient))
    won = await db.exec(
        update(Patient)
        .where(col(Patient.id) == patient_id, col(Patient.status).in_(list(FOLLOWED)))
        .values(status=PatientStatus.DISCHARGED, ended_at=now, paused_until=None)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:
        await db.rollback()
        raise RecordError("discharge_already")
    await db.refresh(patient)
    assert patient.id is not None and patient.tg_user_id is not None
    await cancel_pending(db, patient_id=patient.id, reason="discharged", kinds=_PATIENT_KINDS)
    await cancel_scheduled_checkins(db, patient_id=patient.id, reason="discharged")
    db.add(
        OutboxMessage(
            kind=OutboxKind.DISCHARGE,
            chat_id=patient.tg_user_id,
            patient_id=patient.id,
            due_at=now,
            created_at=now,
            urgent=True,
        )
    )
    await notify_therapist(db, patient, text_key="notice_discharged", now=now)
    audit.record(
        db,
        now=now,
        action="patient_discharged",
        actor_kind="staff",
        actor_id=staff.id,
        subject_kind="patient",
        subject_id=patient.id,
    )
    await db.commit()
    return patient


async def my_data(
    db: AsyncSession, protocol: Protocol, patient: Patient, *, now: datetime
) -> bytes:
    """Everything stored about the patient, as JSON they can keep — with their earlier
    courses, if they came back after one ended (what /delete erases too). Each answer
    carries its question's words and the answer's label in the patient's language next to
    the stored codes ("Q1", 3), so the file reads without the protocol at hand."""
    document: dict[str, Any] = {
        "generated_at": now.isoformat(),
        **await _course(db, protocol, patient, patient.language),
    }
    earlier = await earlier_courses(db, patient)
    if earlier:
        document["earlier_courses"] = [
            await _course(db, protocol, course, patient.language) for course in earlier
        ]
    audit.record(
        db,
        now=now,
        action="data_exported_to_patient",
        actor_kind="patient",
        actor_id=patient.id,
        subject_kind="patient",
        subject_id=patient.id,
    )
    await db.commit()
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


async def _course(
    db: AsyncSession, protocol: Protocol, patient: Patient, language: str
) -> dict[str, Any]:
    """One course of a patient: who, sessions, answers (in words too), consent, messages."""
    assert patient.id is not None
    sessions = (
        await db.exec(select(NeedlingSession).where(NeedlingSession.patient_id == patient.id))
    ).all()
    answers = (
        await db.exec(
            select(Answer, Checkin.key)
            .join(Checkin, col(Checkin.id) == col(Answer.checkin_id))
            .where(Answer.patient_id == patient.id)
            .order_by(col(Answer.answered_at))
        )
    ).all()
    consents = (
        await db.exec(select(ConsentEvent).where(ConsentEvent.patient_id == patient.id))
    ).all()
    notes = (await db.exec(select(PatientNote).where(PatientNote.patient_id == patient.id))).all()
    activities = tuple(patient.activities)
    return {
        "patient": {
            "id": patient.id,
            "name": patient.display_name,
            "status": patient.status,
            "language": patient.language,
            "time_zone": patient.timezone,
            "reminder_time": patient.reminder_time,
            "baseline_pain": patient.baseline_pain,
            "enrolled_at": patient.created_at.isoformat(),
            "consented_at": patient.consented_at.isoformat() if patient.consented_at else None,
        },
        "sessions": [
            {"number": s.number, "ended_at": s.ended_at.isoformat(), "regions": s.regions}
            for s in sessions
        ],
        "answers": [
            {
                "checkin": key,
                "question": a.question_key,
                "value": a.value,
                "question_text": question_words(
                    protocol, a.question_key, language, activities
                ),
                "answer_text": stored_answer_words(
                    protocol, a.question_key, a.value, language
                ),
                "answered_at": a.answered_at.isoformat(),
            }
            for a, key in answers
        ],
        "consent": [
            {"decision": c.decision, "text_version": c.text_version, "at": c.at.isoformat()}
            for c in consents
        ],
        "messages_to_therapist": [
            {
                "text": n.text,
                "media": n.media_kind,
                "at": n.created_at.isoformat(),
                "passed_at": n.passed_at.isoformat() if n.passed_at else None,
            }
            for n in notes
        ],
    }


# shown messages that name the patient or carry their words: alert cards and their notices,
# notices about the patient, and copies of the media they passed on (deleted, not edited);
# each becomes "[erased patient]" through an OutboxKind.ERASED_EDIT row
_NAMING_KINDS = (
    OutboxKind.ALERT,
    OutboxKind.ALERT_NOTICE,
    OutboxKind.NOTICE,
    OutboxKind.PATIENT_UNREACHABLE,
)


async def erase(
    db: AsyncSession, patient: Patient, *, now: datetime, retention: bool = False
) -> bool:
    """Erase the patient's personal data; the tombstone row and ids-only audit events remain.

    One transaction, in this order, so that nothing that names the patient survives:
    the redaction edits of every message shown to staff that names them (alert cards and
    their copies, notices, copied media) are queued with their message refs *before* the
    rows holding those refs are deleted — through the outbox, so a restart cannot lose
    them; then their rows go, and the outbox rows left of the patient lose their chat id
    and payload. The first erasure wins (a conditional write, invariant 9): a double tap,
    or the retention sweep racing a /delete, erases once. False if it was already done.

    `retention`: the daily sweep erases a follow-up that ended RETENTION_DAYS ago; it is
    audited as such, and the therapist is not told again.
    """
    assert patient.id is not None
    pid, tg_user_id = patient.id, patient.tg_user_id
    won = await db.exec(
        update(Patient)
        .where(col(Patient.id) == pid, col(Patient.status) != PatientStatus.DELETED)
        .values(status=PatientStatus.DELETED, ended_at=now)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:
        await db.rollback()
        return False
    await _queue_redactions(db, pid, tg_user_id, now)
    await cancel_pending(db, patient_id=pid, reason="erased")
    alert_ids = select(Alert.id).where(Alert.patient_id == pid)
    await db.exec(delete(AlertCopy).where(col(AlertCopy.alert_id).in_(alert_ids)))
    of_alerts = col(OutboxMessage.alert_id).in_(alert_ids)
    await outbox.cancel_queued(db, of_alerts, reason="erased")
    await db.exec(
        update(OutboxMessage).where(of_alerts).values(alert_id=None, payload={}, message_id=None)
    )
    await db.exec(delete(Alert).where(col(Alert.patient_id) == pid))
    await db.exec(delete(AnswerDraft).where(col(AnswerDraft.patient_id) == pid))
    await db.exec(delete(Answer).where(col(Answer.patient_id) == pid))
    mine = col(OutboxMessage.patient_id) == pid
    if tg_user_id is not None:
        mine = or_(mine, col(OutboxMessage.chat_id) == tg_user_id)
    # nothing left in flight; no chat, payload or message ref survives
    await outbox.cancel_queued(db, mine, reason="erased")
    await db.exec(
        update(OutboxMessage)
        .where(mine)
        .values(
            chat_id=ERASED_CHAT_ID,
            checkin_id=None,
            payload={},
            message_id=None,
            last_error=None,
            claimed_by=None,
        )
    )
    await db.exec(delete(Checkin).where(col(Checkin.patient_id) == pid))
    await db.exec(delete(NeedlingSession).where(col(NeedlingSession.patient_id) == pid))
    await db.exec(delete(PatientNote).where(col(PatientNote.patient_id) == pid))
    await db.exec(delete(LinkToken).where(col(LinkToken.patient_id) == pid))
    await db.exec(delete(ConsentEvent).where(col(ConsentEvent.patient_id) == pid))
    await db.exec(delete(ProgrammeItem).where(col(ProgrammeItem.patient_id) == pid))
    await db.exec(delete(ExerciseLog).where(col(ExerciseLog.patient_id) == pid))
    await db.refresh(patient)
    patient.display_name = None
    patient.tg_user_id = None
    patient.timezone = None
    patient.activities, patient.exercises = [], []
    patient.baseline_pain = 0
    patient.paused_until = None
    if not retention:
        await notify_therapist(db, patient, text_key="notice_erased", now=now)
    audit.record(
        db,
        now=now,
        action="patient_erased_retention" if retention else "patient_erased",
        actor_kind="system" if retention else "patient",
        actor_id=None if retention else pid,
        subject_kind="patient",
        subject_id=pid,
    )
    await db.commit()
    return True


async def earlier_courses(db: AsyncSession, patient: Patient) -> list[Patient]:
    """The earlier courses of the same person, not yet erased: a returning patient's
    account moved from them to this one (care.enrollment.open_join_link), and their join
    links stay bound to the account that opened them."""
    if patient.tg_user_id is None:
        return []
    ids = select(LinkToken.patient_id).where(
        LinkToken.kind == "join", LinkToken.bound_tg_user_id == patient.tg_user_id
    )
    rows = await db.exec(
        select(Patient).where(
            col(Patient.id).in_(ids),
            col(Patient.id) != patient.id,
            col(Patient.status) != PatientStatus.DELETED,
        )
    )
    return list(rows.all())


async def erase_person(db: AsyncSession, patient: Patient, *, now: datetime) -> bool:
    """/delete: erase this course and every earlier course of the same person (each in
    its own transaction, as the retention sweep does). False when this one was already
    erased (a second copy of the tap)."""
    earlier = await earlier_courses(db, patient)
    if not await erase(db, patient, now=now):
        return False
    for course in earlier:
        await erase(db, course, now=now)
    return True


ENDED = (PatientStatus.DISCHARGED, PatientStatus.STOPPED, PatientStatus.DECLINED)


async def erase_expired(
    db: AsyncSession, *, retention: timedelta, now: datetime, limit: int = 100
) -> list[int]:
    """Retention: erase, as /delete does, the patients whose follow-up ended (discharged,
    stopped, declined) more than `retention` ago; each in its own transaction, audited as
    `patient_erased_retention`. Returns the ids erased (at most `limit` a pass)."""
    cutoff = now - retention
    ended = func.coalesce(col(Patient.ended_at), col(Patient.created_at))
    due = (
        await db.exec(
            select(Patient)
            .where(col(Patient.status).in_(list(ENDED)), ended < cutoff)
            .order_by(col(Patient.id))
            .limit(limit)
        )
    ).all()
    erased = []
    for patient in due:
        assert patient.id is not None
        if await erase(db, patient, now=now, retention=True):
            erased.append(patient.id)
    return erased


async def _queue_redactions(
    db: AsyncSession, pid: int, tg_user_id: int | None, now: datetime
) -> None:
    """One `erased_edit` row per message shown to staff that names the patient (or is a
    copy of their media), each shown message once. Not tied to the patient (patient_id is
    left empty): they must survive the clearing below, and they hold only staff chats."""
    alert_ids = select(Alert.id).where(Alert.patient_id == pid)
    shown: dict[tuple[int, int], bool] = {}  # (chat, message) -> delete instead of edit
    copies = await db.exec(select(AlertCopy).where(col(AlertCopy.alert_id).in_(alert_ids)))
    for copy in copies.all():
        shown[(copy.chat_id, copy.message_id)] = False
    sent = await db.exec(
        select(OutboxMessage).where(
            or_(col(OutboxMessage.patient_id) == pid, col(OutboxMessage.alert_id).in_(alert_ids)),
            col(OutboxMessage.kind).in_([*_NAMING_KINDS, OutboxKind.NOTE_MEDIA]),
            col(OutboxMessage.message_id).is_not(None),
        )
    )
    for row in sent.all():
        if row.chat_id == tg_user_id or row.message_id is None:
            continue  # the patient's own chat is theirs
        shown.setdefault((row.chat_id, row.message_id), row.kind == OutboxKind.NOTE_MEDIA)
    for (chat_id, message_id), remove in shown.items():
        db.add(
            OutboxMessage(
                kind=OutboxKind.ERASED_EDIT,
                chat_id=chat_id,
                payload={"message_id": message_id, "delete": remove},
                due_at=now,
                created_at=now,
            )
        )
    await db.flush()


async def keep_note(
    db: AsyncSession,
    patient: Patient,
    text: str,
    *,
    now: datetime,
    media_message_id: int | None = None,
    media_kind: str | None = None,
) -> int:
    """Keep one message of the patient (its words, or a media message's id and caption)
    until they pass it on: every message is its own note and its own pass."""
    assert patient.id is not None
    note = PatientNote(
        patient_id=patient.id,
        text=text[:NOTE_MAX],
        created_at=now,
        media_message_id=media_message_id,
        media_kind=media_kind,
    )
    db.add(note)
    await db.commit()
    assert note.id is not None
    return note.id


async def pass_note(
    db: AsyncSession, policy: AlertPolicy, patient: Patient, *, note_id: int, now: datetime
) -> bool:
    """The patient asked to pass their words on: a SOON item for their therapist, once."""
    note = await db.get(PatientNote, note_id)
    if note is None or note.patient_id != patient.id or note.passed_at is not None:
        return False
    taken = await db.exec(  # a double tap passes it once: whoever sets passed_at first
        update(PatientNote)
        .where(col(PatientNote.id) == note_id, col(PatientNote.passed_at).is_(None))
        .values(passed_at=now)
    )
    if taken.rowcount != 1:
        await db.rollback()
        return False
    note.passed_at = now
    finding = triage_patient_message()
    words = note.text if len(note.text) <= 500 else note.text[:497] + "…"
    if note.media_kind:
        words = f"[{note.media_kind}] {words}".strip()
    finding = type(finding)(
        tier=finding.tier,
        reason_key=finding.reason_key,
        reasons=(*finding.reasons, f"“{words}”"),
        stops_checkin=False,
        fact={**finding.fact, "words": words},
    )
    cards = await raise_findings(db, policy, patient=patient, findings=[finding], now=now)
    if cards:
        await _queue_media_copy(db, patient, note, cards[0], now)
    await db.commit()
    return True


async def _queue_media_copy(
    db: AsyncSession, patient: Patient, note: PatientNote, card: Alert, now: datetime
) -> None:
    """A passed photo, voice note … goes itself to whoever gets the alert card — the
    therapist, or the other therapists and admins when theirs is inactive or unreachable —
    after the card (same transaction, queued behind the card's row)."""
    if note.media_message_id is None or patient.tg_user_id is None:
        return
    for person in await recipients(db, card):
        db.add(
            OutboxMessage(
                kind=OutboxKind.NOTE_MEDIA,
                chat_id=person.tg_user_id,
                patient_id=patient.id,
                staff_id=person.id,
                due_at=now,
                created_at=now,
                payload={
                    "from_chat_id": patient.tg_user_id,
                    "message_id": note.media_message_id,
                },
            )
        )
