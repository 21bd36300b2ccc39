"""Enrolling a patient at the desk, and the patient joining by link and consenting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care import audit
from care.context import latest_session
from care.planning import plan_after_consent
from care.programme import add_default_rows
from care.sessions import FOLLOWED, queue_session_advice
from care.tokens import new_token
from flows.protocol import Protocol
from store.models import (
    ConsentEvent,
    LinkToken,
    NeedlingSession,
    Patient,
    PatientStatus,
    Role,
    StaffMember,
)

NAME_MAX = 64

#: what the desk screens for at enrollment (clinical.md, "Decisions on the edge cases"):
#: shown to the therapist on the patient's card and their first alert; never a bar to
#: enrollment. The order is the order of the buttons (their index is the callback data).
SCREENING_FACTS = ("anticoagulants", "pregnancy", "diabetes_immunosuppression", "first_needling")


class EnrollmentError(ValueError):
    """Input that cannot be enrolled; the message is safe to show to staff."""


class AlreadyEnrolled(EnrollmentError):
    """This /enroll conversation already created its patient (a double tap, or another
    instance was first): nothing was written."""

    def __init__(self) -> None:
        super().__init__("already_enrolled")


def clean_display_name(raw: str) -> str:
    """Collapse whitespace; 1–64 characters of anything (any script, emoji)."""
    name = " ".join(raw.split())
    if not name:
        raise EnrollmentError("empty")
    if len(name) > NAME_MAX:
        raise EnrollmentError("too_long")
    return name


@dataclass(frozen=True)
class Enrollment:
    patient: Patient
    session: NeedlingSession
    token: str


async def enroll(
    db: AsyncSession,
    *,
    staff: StaffMember,
    display_name: str,
    therapist_id: int,
    session_ended_at: datetime,
    regions: list[str],
    baseline_pain: int,
    language: str,
    now: datetime,
    link_ttl: timedelta,
    enroll_key: str | None = None,
    leg_symptoms: bool = False,
    screening: list[str] | None = None,
    protocol: Protocol | None = None,
) -> Enrollment:
    """Create the patient, their first session and a one-time join link, atomically.

    `enroll_key` names the conversation at the desk; it is unique on the patient, so
    two copies of the last tap (a double tap, two instances) create one patient and one
    live link — the loser's insert fails and it raises `AlreadyEnrolled` (invariant 9).
    """
    name = clean_display_name(display_name)
    if not 0 <= baseline_pain <= 10:
        raise EnrollmentError("baseline")
    if not regions:
        raise EnrollmentError("regions")
    if session_ended_at > now:
        raise EnrollmentError("future")
    if screening is not None and any(fact not in SCREENING_FACTS for fact in screening):
        raise EnrollmentError("screening")
    therapist = await db.get(StaffMember, therapist_id)
    if therapist is None or therapist.role != Role.THERAPIST or not therapist.active:
        raise EnrollmentError("therapist")
    patient = Patient(
        display_name=name,
        therapist_id=therapist_id,
        enrolled_by=staff.id,
        baseline_pain=baseline_pain,
        language=language,
        created_at=now,
        enroll_key=enroll_key,
        leg_symptoms=leg_symptoms,
        screening=None if screening is None else sorted(set(screening), key=SCREENING_FACTS.index),
    )
    db.add(patient)
    try:
        await db.flush()
    except IntegrityError:
        await db.rollback()
        if enroll_key is None:
            raise
        raise AlreadyEnrolled() from None
    assert patient.id is not None
    session = NeedlingSession(
        patient_id=patient.id,
        number=1,
        ended_at=session_ended_at,
        regions=list(regions),
        recorded_by=staff.id,
        created_at=now,
    )
    token, digest = new_token()
    link = LinkToken(
        token_hash=digest,
        kind="join",
        patient_id=patient.id,
        created_by=staff.id,
        created_at=now,
        expires_at=now + link_ttl,
    )
    db.add_all([session, link])
    if protocol is not None:  # the default home programme, until the therapist changes it
        add_default_rows(db, protocol, patient.id, now=now)
    await db.flush()
    audit.record(
        db,
        now=now,
        action="patient_enrolled",
        actor_kind="staff",
        actor_id=staff.id,
        subject_kind="patient",
        subject_id=patient.id,
        therapist_id=therapist_id,
    )
    audit.record(
        db,
        now=now,
        action="session_recorded",
        actor_kind="staff",
        actor_id=staff.id,
        subject_kind="patient",
        subject_id=patient.id,
        session_id=session.id,
        number=1,
    )
    await db.commit()
    return Enrollment(patient=patient, session=session, token=token)


class JoinOutcome(StrEnum):
    ASK_CONSENT = "ask_consent"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    OTHER_ACCOUNT = "other_account"
    ACCOUNT_TAKEN = "account_taken"  # this Telegram account already follows another patient
    IS_STAFF = "is_staff"


@dataclass(frozen=True)
class JoinResult:
    outcome: JoinOutcome
    patient: Patient | None = None
    therapist: StaffMember | None = None


async def open_join_link(
    db: AsyncSession, link: LinkToken, *, tg_user_id: int, language: str, now: datetime
) -> JoinResult:
    """Bind the link to the first account that opens it and ask for consent.

    Opening it again from the same account asks again (the person may have closed
    the chat); from any other account it is refused. Nothing changes on refusal.

    A returning patient (issue 14): an account whose earlier course has ended —
    discharged, stopped, declined, unreachable, or an invitation never agreed to — joins
    the new course; the earlier one keeps its data (staff still see it) and gives up the
    account (a patient row holds one account, and the account one live row). Only an
    active or paused follow-up refuses the new link (ACCOUNT_TAKEN).
    """
    if link.used_at is not None:
        return JoinResult(JoinOutcome.USED)
    if link.expires_at <= now:
        return JoinResult(JoinOutcome.EXPIRED)
    if link.bound_tg_user_id is not None and link.bound_tg_user_id != tg_user_id:
        return JoinResult(JoinOutcome.OTHER_ACCOUNT)
    staff = (await db.exec(select(StaffMember).where(StaffMember.tg_user_id == tg_user_id))).first()
    if staff is not None:
        return JoinResult(JoinOutcome.IS_STAFF)
    assert link.patient_id is not None
    other = (await db.exec(select(Patient).where(Patient.tg_user_id == tg_user_id))).first()
    if other is not None and other.id != link.patient_id and other.status in FOLLOWED:
        return JoinResult(JoinOutcome.ACCOUNT_TAKEN)  # only a live follow-up blocks a new one
    patient = await db.get(Patient, link.patient_id)
    if patient is None or patient.status != PatientStatus.INVITED:
        return JoinResult(JoinOutcome.USED)
    therapist = await db.get(StaffMember, patient.therapist_id)
    changed = False
    if link.bound_tg_user_id is None:
        # two accounts opening the link at once: the row count says who bound it first;
        # the other is answered as if it came later (invariant 9)
        bound = await db.exec(
            update(LinkToken)
            .where(
                col(LinkToken.id) == link.id,
                col(LinkToken.bound_tg_user_id).is_(None),
                col(LinkToken.used_at).is_(None),
            )
            .values(bound_tg_user_id=tg_user_id)
            .execution_options(synchronize_session=False)
        )
        if bound.rowcount != 1:  # nothing of ours was written; the session just closes
            return JoinResult(JoinOutcome.OTHER_ACCOUNT)
        link.bound_tg_user_id = tg_user_id
        changed = True
    if patient.tg_user_id != tg_user_id:
        if other is not None and other.id != patient.id:
            # a returning patient: their ended course (discharged, stopped, declined …, or
            # an invitation they never agreed to) keeps its data for staff and hands the
            # account to the new one; a live follow-up is never taken (the guard decides)
            released = await db.exec(
                update(Patient)
                .where(
                    col(Patient.id) == other.id,
                    col(Patient.tg_user_id) == tg_user_id,
                    col(Patient.status).not_in(list(FOLLOWED)),
                )
                .values(tg_user_id=None)
                .execution_options(synchronize_session=False)
            )
            if released.rowcount != 1:
                await db.rollback()
                return JoinResult(JoinOutcome.ACCOUNT_TAKEN)
            audit.record(
                db,
                now=now,
                action="returning_patient",
                actor_kind="patient",
                actor_id=patient.id,
                subject_kind="patient",
                subject_id=patient.id,
                earlier_patient_id=other.id,
                earlier_status=other.status,
            )
        patient.tg_user_id = tg_user_id
        patient.language = language
        audit.record(
            db,
            now=now,
            action="join_link_opened",
            actor_kind="patient",
            actor_id=patient.id,
            subject_kind="patient",
            subject_id=patient.id,
        )
        changed = True
    if changed:
        try:
            await db.commit()
        except IntegrityError:  # the same account bound another patient's link meanwhile
            await db.rollback()
            return JoinResult(JoinOutcome.ACCOUNT_TAKEN)
    return JoinResult(JoinOutcome.ASK_CONSENT, patient, therapist)


class ConsentOutcome(StrEnum):
    AGREED = "agreed"
    DECLINED = "declined"
    NOT_PENDING = "not_pending"


async def choose_consent_language(
    db: AsyncSession, protocol: Protocol, *, patient: Patient, language: str, now: datetime
) -> bool:
    """The language buttons under the consent text: store the patient's choice while consent
    is pending; everything after uses it. False (nothing changes) once consent is decided:
    the language is then changed in /settings or /language. A language the protocol does
    not have raises ValueError and changes nothing."""
    if language not in protocol.info.languages:
        raise ValueError(f"language {language!r} is not in the protocol")
    if patient.status != PatientStatus.INVITED:
        return False
    patient.language = language
    audit.record(
        db,
        now=now,
        action="consent_language_chosen",
        actor_kind="patient",
        actor_id=patient.id,
        subject_kind="patient",
        subject_id=patient.id,
        language=language,
    )
    await db.commit()
    return True


async def decide_consent(
    db: AsyncSession,
    protocol: Protocol,
    *,
    patient: Patient,
    agree: bool,
    text_version: str,
    default_tz: ZoneInfo,
    now: datetime,
) -> ConsentOutcome:
    """Record the patient's decision once; the join link is spent either way.

    Agreeing plans the aftercare in the same transaction, so a consent that is
    stored always comes with its check-ins.
    """
    if patient.status != PatientStatus.INVITED:
        return ConsentOutcome.NOT_PENDING
    status = PatientStatus.ACTIVE if agree else PatientStatus.DECLINED
    decided = await db.exec(  # two copies of the tap: whoever moves it from invited decides
        update(Patient)
        .where(col(Patient.id) == patient.id, col(Patient.status) == PatientStatus.INVITED)
        .values(status=status)
        .execution_options(synchronize_session=False)
    )
    if decided.rowcount != 1:  # nothing of ours was written; the session just closes
        return ConsentOutcome.NOT_PENDING
    links = await db.exec(
        select(LinkToken).where(LinkToken.patient_id == patient.id, LinkToken.kind == "join")
    )
    for link in links.all():
        if link.used_at is None:
            link.used_at = now
    decision = "agreed" if agree else "declined"
    assert patient.id is not None
    db.add(
        ConsentEvent(patient_id=patient.id, decision=decision, text_version=text_version, at=now)
    )
    if agree:
        patient.status = PatientStatus.ACTIVE
        patient.consented_at = now
    else:
        patient.status = PatientStatus.DECLINED
        patient.ended_at = now
    audit.record(
        db,
        now=now,
        action=f"consent_{decision}",
        actor_kind="patient",
        actor_id=patient.id,
        subject_kind="patient",
        subject_id=patient.id,
        text_version=text_version,
    )
    if agree:
        await plan_after_consent(db, protocol, patient=patient, default_tz=default_tz, now=now)
        first = await latest_session(db, patient.id)
        if first is not None:  # its aftercare; the welcome itself lists the signs
            queue_session_advice(db, patient, first, signs=False, now=now)
    await db.commit()
    return ConsentOutcome.AGREED if agree else ConsentOutcome.DECLINED
