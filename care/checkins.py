"""Check-ins over their life: due → sent (open) → answered one tap at a time → done,
or expired, skipped, cancelled. Pure decisions come from `flows`; this module reads
and writes the database around them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care.alerts import AlertPolicy, raise_findings
from care.context import (
    StoredAnswer,
    build_context,
    checkin_context,
    earlier_in_session,
    latest_session,
    load_checkin_answers,
    load_patient_answers,
    patient_tz,
    pick_checkin_answers,
    recent_tags,
    sessions_before,
    sessions_of,
)
from care.planning import (
    CLOSED_FOR_SESSION,
    EDITABLE_STATUSES,
    EXERCISE_LATE_AFTER,
    plan_next_course_checkin,
    plan_next_exercise_reminder,
    queue_closed_edit,
)
from care.safety_reply import queue_safety_reply
from care.triage_facts import (
    adherence_on_skip,
    answer_history,
    course_findings_on_close,
    findings_for_answer,
    silence_finding,
)
from flows.answers import exclusive_mask, is_valid_code
from flows.engine import (
    PatientContext,
    QuestionRef,
    checkin_applies,
    next_question,
    questions_for,
    reassurance_texts,
)
from flows.planner import defer_for_quiet_hours, held_by_quiet_hours, nudge_at
from flows.protocol import AfterSession, CheckinDef, OnDemand, Protocol
from flows.text import Text
from flows.triage import Finding, Tier, highest
from store import outbox
from store.models import (
    Answer,
    Checkin,
    CheckinState,
    NeedlingSession,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    Patient,
    PatientStatus,
)

ENDED_STATUSES = (
    PatientStatus.STOPPED,
    PatientStatus.DISCHARGED,
    PatientStatus.DELETED,
    PatientStatus.UNREACHABLE,
    PatientStatus.DECLINED,
    PatientStatus.INVITED,
)


@dataclass(frozen=True)
class Ready:
    """Send this now: the patient, the check-in and its first (or current) question."""

    patient: Patient
    checkin: Checkin
    definition: CheckinDef
    ref: QuestionRef
    context: PatientContext
    answered: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Skip:
    """Do not send; the row is settled with this reason (already committed)."""

    reason: str


@dataclass(frozen=True)
class Wait:
    """Not yet; due again at `until`."""

    until: datetime
    reason: str


Preparation = Ready | Skip | Wait

#: Why a course check-in stopped being open when a session check-in fell due (item 1 of
#: prepare_checkin's docstring). Not a miss: no silence alert, no consecutive_missed.


@dataclass(frozen=True)
class ClosedView:
    """What the closed check-in's message showed: rendered again, without answer buttons."""

    patient: Patient
    checkin: Checkin
    definition: CheckinDef
    context: PatientContext
    answered: dict[str, int]
    ref: QuestionRef | None
    message_id: int


def is_session_checkin(protocol: Protocol, key: str) -> bool:
    """A session's own check-in (3 h, 24 h …), as opposed to a course one (weekly, adherence).

    A key no longer in the protocol counts as a course check-in: it never holds a session's.
    (The on-demand check-in is neither: see on_demand_keys.)"""
    definition = protocol.checkins.get(key)
    return definition is not None and isinstance(definition.schedule, AfterSession)


async def _settle(db: AsyncSession, row: OutboxMessage, state: OutboxState, reason: str) -> Skip:
    assert row.id is not None
    await outbox.settle(db, [row.id], state=state, error=reason)  # only while still claimed
    return Skip(reason)


async def patient_gate(
    db: AsyncSession, patient: Patient | None, row: OutboxMessage, now: datetime
) -> Skip | Wait | None:
    """Common rules for anything sent to a patient: ended → cancel; paused → wait."""
    if patient is None or patient.status in ENDED_STATUSES:
        return await _settle(db, row, OutboxState.CANCELLED, "patient not active")
    if patient.status == PatientStatus.PAUSED:
        if patient.paused_until is not None and patient.paused_until > now:
            return Wait(patient.paused_until, "patient paused")
        patient.status = PatientStatus.ACTIVE
        patient.paused_until = None
    return None


async def open_checkin_of(
    db: AsyncSession,
    patient_id: int,
    *,
    other_than: int | None,
    ignoring: tuple[str, ...] = (),
) -> Checkin | None:
    """An open check-in of the patient's other than `other_than`, not one of `ignoring`."""
    query = select(Checkin).where(
        Checkin.patient_id == patient_id,
        Checkin.state == CheckinState.OPEN,
        col(Checkin.id) != (other_than or -1),
    )
    if ignoring:
        query = query.where(col(Checkin.key).not_in(ignoring))
    return (await db.exec(query)).first()


def on_demand_keys(protocol: Protocol) -> tuple[str, ...]:
    """The patient's own check-in ("Report a new symptom"): it opens beside any other, so it
    neither holds a planned check-in back nor is closed for one."""
    return tuple(c.key for c in protocol.checkins_of(OnDemand))


async def _roll_course(
    db: AsyncSession,
    protocol: Protocol,
    checkin: Checkin,
    patient: Patient,
    tz: ZoneInfo,
    now: datetime,
) -> None:
    """A course check-in left the queue: plan its next occurrence (one pending at a time)."""
    definition = protocol.checkins.get(checkin.key)
    if definition is None or isinstance(definition.schedule, AfterSession):
        return
    if patient.status in ENDED_STATUSES:
        return
    await plan_next_course_checkin(
        db,
        protocol,
        patient=patient,
        key=checkin.key,
        after=max(checkin.due_at, now),
        tz=tz,
        now=now,
    )


async def prepare_checkin(
    db: AsyncSession,
    protocol: Protocol,
    row: OutboxMessage,
    *,
    default_tz: ZoneInfo,
    now: datetime,
    policy: AlertPolicy | None = None,
) -> Preparation:
    """Decide what a due check-in row becomes (_checkin_preparation); one unit of work.

    Whatever it decided — the row settled, an open check-in expired or closed for this
    one, the paused patient resumed, this check-in opened — is committed once, before it
    returns: a Ready check-in is OPEN in the database before its question is sent, so a
    tap that beats our bookkeeping finds it open (mark_checkin_sent is the next unit).
    """
    preparation = await _checkin_preparation(
        db, protocol, row, default_tz=default_tz, now=now, policy=policy
    )
    await db.commit()
    return preparation


async def _checkin_preparation(
    db: AsyncSession,
    protocol: Protocol,
    row: OutboxMessage,
    *,
    default_tz: ZoneInfo,
    now: datetime,
    policy: AlertPolicy | None = None,
) -> Preparation:
    """What a due check-in row becomes; its writes wait for prepare_checkin's commit.

    One check-in is open at a time, so that questions never interleave. When another is
    open (clinical.md, "Decisions on the edge cases": a session's check-ins are never held
    behind a course check-in):
    - this is a SESSION check-in and the open one a COURSE check-in (weekly, Sunday
      adherence): the course check-in is CLOSED now — state expired, reason
      CLOSED_FOR_SESSION, not counted as missed (no silence alert, no consecutive_missed),
      its answers kept, its buttons replaced (queue_closed_edit); its next occurrence was
      planned when it was sent — and this one goes out now. Postponing it instead would
      leave two open check-ins or a question that comes back days later.
    - otherwise (a session check-in open; or both course check-ins) this one waits until
      the open one is done (`release_waiting`) or expires.

    Quiet hours are judged against the due time (`held_by_quiet_hours`): a check-in due at
    21:00 and reached at 21:00:01, or due at 20:50 and reached by a late pass at 21:30, is
    sent if not expired. Expiry stays `now >= expires_at`.
    """
    checkin = await db.get(Checkin, row.checkin_id) if row.checkin_id else None
    unconfirmed = (
        checkin is not None
        and checkin.state == CheckinState.OPEN
        and checkin.chat_message_id is None  # opened for a send that never confirmed: retry
    )
    if checkin is None or (checkin.state != CheckinState.SCHEDULED and not unconfirmed):
        state = checkin.state if checkin else "missing"
        return await _settle(db, row, OutboxState.CANCELLED, f"check-in is {state}")
    patient = await db.get(Patient, checkin.patient_id)
    gate = await patient_gate(db, patient, row, now)
    if gate is not None or patient is None:
        if isinstance(gate, Skip):
            checkin.state = CheckinState.CANCELLED
            checkin.reason = "patient not active"
        return gate or Skip("patient missing")
    tz = patient_tz(patient, default_tz)
    definition = protocol.checkins.get(checkin.key)
    if definition is None:
        checkin.state, checkin.reason = CheckinState.CANCELLED, "not in the protocol any more"
        return await _settle(db, row, OutboxState.CANCELLED, "check-in not in protocol")
    if now >= checkin.expires_at:
        checkin.state, checkin.reason = CheckinState.EXPIRED, "too late: was not sent in time"
        result = await _settle(db, row, OutboxState.EXPIRED, "too late")
        await _roll_course(db, protocol, checkin, patient, tz, now)
        return result
    assert patient.id is not None and checkin.id is not None
    session_checkin = isinstance(definition.schedule, AfterSession)
    beside = on_demand_keys(protocol)
    while (
        other := await open_checkin_of(db, patient.id, other_than=checkin.id, ignoring=beside)
    ) is not None:
        if other.expires_at <= now:
            await expire_checkin(db, protocol, other, now, policy)
        elif session_checkin and not is_session_checkin(protocol, other.key):
            await close_for_session(db, protocol, other, now, tz=tz, policy=policy)
        else:
            return Wait(min(other.expires_at, checkin.expires_at), "another check-in is open")
    due = min(row.due_at, checkin.due_at)
    if definition.routine and held_by_quiet_hours(protocol, due_at=due, now=now, tz=tz):
        return Wait(defer_for_quiet_hours(protocol, now, tz), "quiet hours")
    ctx = await checkin_context(db, protocol, patient, checkin)
    ref = next_question(definition, ctx, {}) if checkin_applies(definition, ctx) else None
    if ref is None:
        checkin.state, checkin.reason = CheckinState.SKIPPED, "condition not met"
        found = await adherence_on_skip(db, protocol, patient, checkin)  # issue 15: the logs
        if found is not None and policy is not None:
            await raise_findings(db, policy, patient=patient, findings=[found], now=now)
        result = await _settle(db, row, OutboxState.CANCELLED, "condition not met")
        await _roll_course(db, protocol, checkin, patient, tz, now)
        return result
    # open it before the send, so a tap that beats our bookkeeping finds it open
    checkin.state, checkin.opened_at = CheckinState.OPEN, now
    return Ready(patient=patient, checkin=checkin, definition=definition, ref=ref, context=ctx)


async def unsend_checkin(db: AsyncSession, checkin_id: int) -> None:
    """Telegram did not take the first question: the check-in is scheduled again."""
    checkin = await db.get(Checkin, checkin_id)
    if (
        checkin is not None
        and checkin.state == CheckinState.OPEN
        and checkin.chat_message_id is None
    ):
        checkin.state, checkin.opened_at = CheckinState.SCHEDULED, None
        await db.commit()


async def mark_checkin_sent(
    db: AsyncSession,
    protocol: Protocol,
    *,
    row_id: int,
    checkin_id: int,
    message_id: int,
    default_tz: ZoneInfo,
    now: datetime,
) -> None:
    """After Telegram accepted the first question: confirm the check-in, plan its one nudge
    and (for course check-ins) the next occurrence — one transaction."""
    checkin = await db.get(Checkin, checkin_id)
    assert checkin is not None
    patient = await db.get(Patient, checkin.patient_id)
    assert patient is not None and patient.tg_user_id is not None
    tz = patient_tz(patient, default_tz)
    await outbox.mark_sent(db, row_id, now=now, message_id=message_id)
    checkin.chat_message_id = message_id
    if checkin.state == CheckinState.OPEN:
        _queue_nudge(db, protocol, checkin, patient, tz, now)
        await _roll_course(db, protocol, checkin, patient, tz, now)
    elif checkin.state != CheckinState.DONE:  # superseded or stopped while it was being sent:
        queue_closed_edit(db, checkin, patient, now)  # its buttons must go (unless stopped)
    await db.commit()


def _queue_nudge(
    db: AsyncSession,
    protocol: Protocol,
    checkin: Checkin,
    patient: Patient,
    tz: ZoneInfo,
    now: datetime,
) -> None:
    """The one reminder of a check-in just sent, if its definition has one."""
    assert patient.tg_user_id is not None
    definition = protocol.checkins[checkin.key]
    nudge = nudge_at(protocol, definition, sent_at=now, expires_at=checkin.expires_at, tz=tz)
    if nudge is not None:
        db.add(
            OutboxMessage(
                kind=OutboxKind.NUDGE,
                chat_id=patient.tg_user_id,
                patient_id=patient.id,
                checkin_id=checkin.id,
                due_at=nudge,
                expires_at=checkin.expires_at,
                created_at=now,
            )
        )


async def prepare_nudge(
    db: AsyncSession,
    protocol: Protocol,
    row: OutboxMessage,
    *,
    default_tz: ZoneInfo,
    now: datetime,
) -> Preparation:
    """The one reminder of an unanswered check-in: only while it is still open. One unit
    of work: the row's settlement or a paused patient's resumption, committed once."""
    preparation = await _nudge_preparation(db, protocol, row, default_tz=default_tz, now=now)
    await db.commit()
    return preparation


async def _nudge_preparation(
    db: AsyncSession,
    protocol: Protocol,
    row: OutboxMessage,
    *,
    default_tz: ZoneInfo,
    now: datetime,
) -> Preparation:
    checkin = await db.get(Checkin, row.checkin_id) if row.checkin_id else None
    if checkin is None or checkin.state != CheckinState.OPEN or checkin.nudged:
        return await _settle(db, row, OutboxState.CANCELLED, "check-in no longer waiting")
    patient = await db.get(Patient, checkin.patient_id)
    gate = await patient_gate(db, patient, row, now)
    if gate is not None or patient is None:
        return gate or Skip("patient missing")
    tz = patient_tz(patient, default_tz)
    definition = protocol.checkins[checkin.key]
    if definition.routine and held_by_quiet_hours(protocol, due_at=row.due_at, now=now, tz=tz):
        until = defer_for_quiet_hours(protocol, now, tz)
        if until >= checkin.expires_at:
            return await _settle(db, row, OutboxState.EXPIRED, "would fall after expiry")
        return Wait(until, "quiet hours")
    assert checkin.id is not None
    answered = await load_checkin_answers(db, checkin.id)
    ctx = await checkin_context(db, protocol, patient, checkin)
    ref = next_question(definition, ctx, answered)
    if ref is None:
        return await _settle(db, row, OutboxState.CANCELLED, "nothing left to ask")
    return Ready(patient, checkin, definition, ref, ctx, answered)


async def mark_nudge_sent(
    db: AsyncSession, *, row_id: int, checkin_id: int, message_id: int, now: datetime
) -> None:
    """The reminder carries the live buttons from now on."""
    checkin = await db.get(Checkin, checkin_id)
    assert checkin is not None
    await outbox.mark_sent(db, row_id, now=now, message_id=message_id)
    checkin.nudged = True
    checkin.chat_message_id = message_id
    if checkin.state not in (CheckinState.OPEN, CheckinState.DONE):  # closed meanwhile
        queue_closed_edit(db, checkin, await db.get(Patient, checkin.patient_id), now)
    await db.commit()


async def prepare_exercise(
    db: AsyncSession,
    protocol: Protocol,
    row: OutboxMessage,
    *,
    default_tz: ZoneInfo,
    now: datetime,
) -> Skip | Wait | Patient:
    """An exercise reminder: the patient when it should go out, else Skip/Wait. One unit
    of work: a settled row and the next reminder it plans are committed together, once."""
    preparation = await _exercise_preparation(db, protocol, row, default_tz=default_tz, now=now)
    await db.commit()
    return preparation


async def _exercise_preparation(
    db: AsyncSession,
    protocol: Protocol,
    row: OutboxMessage,
    *,
    default_tz: ZoneInfo,
    now: datetime,
) -> Skip | Wait | Patient:
    patient = await db.get(Patient, row.patient_id) if row.patient_id else None
    gate = await patient_gate(db, patient, row, now)
    if patient is None:
        return gate or Skip("patient missing")
    if isinstance(gate, Wait):
        # a paused patient misses this one; the next is planned after the pause
        await _settle(db, row, OutboxState.CANCELLED, "patient paused")
        await plan_next_exercise_reminder(
            db,
            protocol,
            patient=patient,
            after=gate.until,
            tz=patient_tz(patient, default_tz),
            now=now,
        )
        return Skip("patient paused")
    if gate is not None:
        return gate
    if not patient.exercise_reminders:
        return await _settle(db, row, OutboxState.CANCELLED, "reminders switched off")
    if now - row.due_at > EXERCISE_LATE_AFTER and not row.payload.get("snoozed"):
        result = await _settle(db, row, OutboxState.EXPIRED, "too late")
        await plan_next_exercise_reminder(
            db, protocol, patient=patient, after=now, tz=patient_tz(patient, default_tz), now=now
        )
        return result
    return patient


async def mark_exercise_sent(
    db: AsyncSession,
    protocol: Protocol,
    *,
    row_id: int,
    message_id: int | None,
    default_tz: ZoneInfo,
    now: datetime,
) -> None:
    row = await db.get(OutboxMessage, row_id)
    assert row is not None and row.patient_id is not None
    await outbox.mark_sent(db, row_id, now=now, message_id=message_id)
    patient = await db.get(Patient, row.patient_id)
    assert patient is not None
    await plan_next_exercise_reminder(
        db,
        protocol,
        patient=patient,
        after=max(row.due_at, now),
        tz=patient_tz(patient, default_tz),
        now=now,
    )
    await db.commit()


async def expire_checkin(
    db: AsyncSession,
    protocol: Protocol,
    checkin: Checkin,
    now: datetime,
    policy: AlertPolicy | None = None,
) -> None:
    """Close an open check-in that ran out of time; no answer at all counts as missed.

    Its message loses its answer buttons (queue_closed_edit), and a course check-in's
    course verdicts that need no answer are made (course_findings_on_close)."""
    assert checkin.id is not None
    answered = await load_checkin_answers(db, checkin.id)
    checkin.state, checkin.finished_at = CheckinState.EXPIRED, now
    checkin.reason = "expired unanswered" if not answered else "expired part-answered"
    patient = await db.get(Patient, checkin.patient_id)
    asked_by_patient = checkin.key in on_demand_keys(protocol)  # /symptom: not a planned one
    if patient is not None and not asked_by_patient:
        if answered:
            patient.consecutive_missed = 0
        else:
            patient.missed_checkins += 1
            patient.consecutive_missed += 1
            await _silence_alert(db, protocol, patient, checkin, now, policy)
    await _after_close(db, protocol, checkin, patient, now, policy)
    await release_waiting(db, checkin.patient_id, now)


async def close_for_session(
    db: AsyncSession,
    protocol: Protocol,
    checkin: Checkin,
    now: datetime,
    *,
    tz: ZoneInfo,
    policy: AlertPolicy | None = None,
) -> None:
    """Close an open course check-in because a session check-in fell due (see
    prepare_checkin). Not a miss: the patient simply got a more pressing question.

    Its next occurrence was planned when Telegram confirmed it (mark_checkin_sent); one
    opened for a send that never confirmed has none yet, so it is planned here."""
    assert checkin.id is not None
    checkin.state, checkin.finished_at = CheckinState.EXPIRED, now
    checkin.reason = CLOSED_FOR_SESSION
    patient = await db.get(Patient, checkin.patient_id)
    if patient is not None and await load_checkin_answers(db, checkin.id):
        patient.consecutive_missed = 0  # it was answered in part: the patient is there
    if patient is not None and checkin.chat_message_id is None:
        await _roll_course(db, protocol, checkin, patient, tz, now)
    await _after_close(db, protocol, checkin, patient, now, policy)


async def _after_close(
    db: AsyncSession,
    protocol: Protocol,
    checkin: Checkin,
    patient: Patient | None,
    now: datetime,
    policy: AlertPolicy | None = None,
) -> None:
    """What follows a sent check-in closing undone: its buttons go, course verdicts."""
    queue_closed_edit(db, checkin, patient, now)
    if patient is not None and patient.status in (PatientStatus.ACTIVE, PatientStatus.PAUSED):
        findings = await course_findings_on_close(
            db, protocol, patient=patient, checkin=checkin, now=now
        )
        if findings:
            await raise_findings(
                db, policy or AlertPolicy(), patient=patient, findings=findings, now=now
            )


async def prepare_closed_edit(
    db: AsyncSession, protocol: Protocol, row: OutboxMessage
) -> ClosedView | Skip:
    """The "this check-in has closed" edit: what to render, or Skip (settled, committed).
    One commit, which also ends the read transaction of a view."""
    view = await _closed_view(db, protocol, row)
    await db.commit()
    return view


async def _closed_view(
    db: AsyncSession, protocol: Protocol, row: OutboxMessage
) -> ClosedView | Skip:
    checkin = await db.get(Checkin, row.checkin_id) if row.checkin_id else None
    patient = await db.get(Patient, row.patient_id) if row.patient_id else None
    message_id = row.payload.get("message_id")
    if patient is None or patient.status not in EDITABLE_STATUSES:
        return await _settle(db, row, OutboxState.CANCELLED, "patient not active")
    definition = protocol.checkins.get(checkin.key) if checkin is not None else None
    if checkin is None or definition is None or not isinstance(message_id, int):
        return await _settle(db, row, OutboxState.CANCELLED, "check-in gone")
    assert checkin.id is not None
    answered = await load_checkin_answers(db, checkin.id)
    ctx = await checkin_context(db, protocol, patient, checkin)
    ref = next_question(definition, ctx, answered)
    return ClosedView(patient, checkin, definition, ctx, answered, ref, message_id)


async def _silence_alert(
    db: AsyncSession,
    protocol: Protocol,
    patient: Patient,
    checkin: Checkin,
    now: datetime,
    policy: AlertPolicy | None = None,
) -> None:
    """Two unanswered check-ins in a row early after a session: the therapist hears (SOON),
    under the clinic's alert settings (opening hours, when a repeat opens a new card)."""
    session = await db.get(NeedlingSession, checkin.session_id) if checkin.session_id else None
    if session is None:
        return
    finding = silence_finding(
        protocol, patient=patient, checkin_due=checkin.due_at, session_end=session.ended_at
    )
    if finding is not None:
        await raise_findings(
            db, policy or AlertPolicy(), patient=patient, findings=[finding], now=now
        )


async def expire_overdue(
    db: AsyncSession,
    protocol: Protocol,
    *,
    now: datetime,
    limit: int = 500,
    policy: AlertPolicy | None = None,
) -> list[int]:
    """The sweep: close open check-ins past their expiry. Returns the affected patient ids."""
    result = await db.exec(
        select(Checkin)
        .where(Checkin.state == CheckinState.OPEN, col(Checkin.expires_at) <= now)
        .limit(limit)
    )
    patients: list[int] = []
    for checkin in result.all():
        await expire_checkin(db, protocol, checkin, now, policy)
        patients.append(checkin.patient_id)
    await db.commit()
    return patients


async def release_waiting(db: AsyncSession, patient_id: int, now: datetime) -> None:
    """Check-ins that fell due while another was open go out now, not at their retry time."""
    waiting = select(Checkin.id).where(
        Checkin.patient_id == patient_id,
        Checkin.state == CheckinState.SCHEDULED,
        col(Checkin.due_at) <= now,
    )
    await outbox.bring_forward(
        db,
        col(OutboxMessage.checkin_id).in_(waiting),
        col(OutboxMessage.kind) == OutboxKind.CHECKIN,
        now=now,
    )


class AnswerStatus(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"  # that question was already answered: nothing stored
    CLOSED = "closed"  # the check-in is done, expired or cancelled, and this is no red flag
    REFUSED = "refused"  # not this person's check-in, or not a valid answer


#: Patients whose tap on a closed check-in still counts when it is a red flag: those in
#: follow-up, paused included (a pause stops what we send, not what they tell us).
LATE_ANSWER_STATUSES = (PatientStatus.ACTIVE, PatientStatus.PAUSED)


def is_red_flag(findings: list[Finding]) -> bool:
    """A warning sign the patient is told about: an URGENT, URGENT-callback or SOON finding,
    or one that shows the emergency text. These count from any state of their check-in."""
    return any(f.emergency or f.tier != Tier.ROUTINE for f in findings)


@dataclass(frozen=True)
class AnswerResult:
    status: AnswerStatus
    checkin: Checkin | None = None
    definition: CheckinDef | None = None
    next_ref: QuestionRef | None = None
    answered: dict[str, int] = field(default_factory=dict)
    after: list[Text] = field(default_factory=list)
    context: PatientContext | None = None
    findings: list[Finding] = field(default_factory=list)
    late: bool = False  # recorded although its check-in had closed (a red flag)
    corrected: bool = False  # a red flag replaced a calmer answer to the same question

    @property
    def tier(self) -> Tier | None:
        """The most severe finding of this answer (what the patient is told)."""
        return highest(self.findings)

    @property
    def emergency(self) -> bool:
        """Whether the patient must be shown the emergency text for this answer."""
        return any(f.emergency for f in self.findings)

    @property
    def done(self) -> bool:
        return self.status == AnswerStatus.RECORDED and self.next_ref is None


# built once: it runs on every tap
_CHECKIN_WITH_SESSION = (
    select(Checkin, NeedlingSession)
    .outerjoin(NeedlingSession, col(NeedlingSession.id) == col(Checkin.session_id))
    .where(col(Checkin.id) == bindparam("checkin_id"))
)


class _LostRace(Exception):
    """Another tap on the same question was stored between our read and our write."""


async def _insert_answer(
    db: AsyncSession,
    checkin: Checkin,
    patient: Patient,
    question_key: str,
    code: int,
    now: datetime,
    *,
    late: bool = False,
) -> None:
    """The answer row; the unique (check-in, question) key decides a race (_LostRace)."""
    assert checkin.id is not None and patient.id is not None
    db.add(
        Answer(
            checkin_id=checkin.id,
            patient_id=patient.id,
            question_key=question_key,
            value=code,
            answered_at=now,
            late=late,
        )
    )
    try:
        await db.flush()
    except IntegrityError:  # another tap on the same question committed first
        await db.rollback()
        raise _LostRace from None


async def _findings(
    db: AsyncSession,
    protocol: Protocol,
    patient: Patient,
    checkin: Checkin,
    session: NeedlingSession | None,
    stored: list[StoredAnswer],
    ctx: PatientContext,
    question_key: str,
    value: int,
    now: datetime,
) -> list[Finding]:
    """Triage of one answer against the patient's stored answers (`stored`)."""
    return await findings_for_answer(
        db,
        protocol,
        patient=patient,
        checkin=checkin,
        session=session,
        history=answer_history(stored),
        question_key=question_key,
        value=value,
        ctx=ctx,
        now=now,
    )


async def record_answer(
    db: AsyncSession,
    protocol: Protocol,
    policy: AlertPolicy,
    *,
    patient: Patient,
    checkin_id: int,
    question_key: str,
    code: int,
    now: datetime,
    reply_by_outbox: bool = False,
) -> AnswerResult:
    """Store one tapped answer (see _record_answer_once); one unit of work, one commit.

    The answer, its alert, the check-in's new state and any queued safety reply are
    committed together before the caller acknowledges the tap (invariant 3); a tap that
    stores nothing (refused, closed, duplicate) commits nothing but the end of its reads.
    Two taps on one question arriving together (a calm one and a red flag, before the
    edit reached the phone) race for the answer's unique key; the loser rolls back and
    reads again, so a red flag that lost to a calmer tap is still recorded, as a
    correction — never dropped as a duplicate (invariant 8)."""
    result = AnswerResult(AnswerStatus.DUPLICATE)
    for _attempt in range(2):
        try:
            result = await _record_answer_once(
                db,
                protocol,
                policy,
                patient=patient,
                checkin_id=checkin_id,
                question_key=question_key,
                code=code,
                now=now,
                reply_by_outbox=reply_by_outbox,
            )
        except _LostRace:
            await db.refresh(patient)  # the rollback expired it; the handler reads it after
            continue
        break
    await db.commit()
    return result


async def _record_answer_once(
    db: AsyncSession,
    protocol: Protocol,
    policy: AlertPolicy,
    *,
    patient: Patient,
    checkin_id: int,
    question_key: str,
    code: int,
    now: datetime,
    reply_by_outbox: bool = False,
) -> AnswerResult:
    """Store one tapped answer (record_answer commits it before the tap is acknowledged).

    Only the check-in's own patient may answer, only a question the check-in asks and
    only a value the question allows; a repeated tap stores nothing (the answer's unique
    key). While the check-in is open every answer counts. Once it has closed (expired,
    superseded, cancelled by a pause, done — a tap on an old message, a nudge's copy,
    after a restart) only a red flag counts (invariant 8): it is stored as a late answer
    and its alert raised in the same transaction; any other late answer is CLOSED and
    stores nothing. Anything refused leaves the database as it was.

    reply_by_outbox: the answer is recorded for a patient who is not at the tap (a
    multi-select draft left standing, care.multi_answers): the safety reply is queued
    in the outbox in the same transaction as the alert.
    """
    found = (await db.exec(_CHECKIN_WITH_SESSION, params={"checkin_id": checkin_id})).first()
    checkin, session = found if found is not None else (None, None)
    if checkin is None or checkin.patient_id != patient.id:
        return AnswerResult(AnswerStatus.REFUSED)
    is_open = checkin.state == CheckinState.OPEN
    if not is_open and (
        checkin.opened_at is None  # never sent: no button of it was ever in the chat
        or checkin.state == CheckinState.SCHEDULED
        or patient.status not in LATE_ANSWER_STATUSES
    ):
        return AnswerResult(AnswerStatus.CLOSED, checkin)
    definition = protocol.checkins.get(checkin.key)
    if definition is None:
        return AnswerResult(AnswerStatus.CLOSED, checkin)
    assert checkin.id is not None and patient.id is not None
    if session is None:  # a check-in without a session is read against the latest one
        session = await latest_session(db, patient.id)
    stored = await load_patient_answers(db, patient.id)
    recent: dict[str, float] = {}
    if definition.looks_at_recent_sessions:  # as when it was asked: the same questions
        recent = recent_tags(protocol, await sessions_of(db, patient.id), checkin.due_at)
    ctx = build_context(
        protocol,
        patient,
        session,
        earlier_in_session(stored, session.id if session else None),
        recent=recent,
        sessions_before=await sessions_before(db, session),
    )
    refs = {ref.key: ref for ref in questions_for(definition, ctx)}
    ref = refs.get(question_key)
    if ref is None or not is_valid_code(protocol.question(ref.question), code):
        return AnswerResult(AnswerStatus.REFUSED, checkin)
    answered = pick_checkin_answers(stored, checkin.id)
    if question_key in answered and answered[question_key] != code:
        corrected = await _record_red_correction(
            db,
            protocol,
            policy,
            patient=patient,
            checkin=checkin,
            definition=definition,
            session=session,
            stored=stored,
            ctx=ctx,
            question_key=question_key,
            earlier=answered[question_key],
            code=code,
            now=now,
            reply_by_outbox=reply_by_outbox,
        )
        if corrected is not None:
            return corrected
    if question_key in answered:
        return AnswerResult(
            AnswerStatus.DUPLICATE,
            checkin,
            definition,
            next_question(definition, ctx, answered) if is_open else None,
            answered,
            context=ctx,
        )
    if not is_open:
        return await _record_late_answer(
            db,
            protocol,
            policy,
            patient=patient,
            checkin=checkin,
            definition=definition,
            session=session,
            stored=stored,
            ctx=ctx,
            question_key=question_key,
            code=code,
            now=now,
            reply_by_outbox=reply_by_outbox,
        )
    # every read is done: the write transaction starts here and stays short
    await _insert_answer(db, checkin, patient, question_key, code, now)
    answered[question_key] = code
    findings = await _findings(
        db, protocol, patient, checkin, session, stored, ctx, question_key, code, now
    )
    if findings:
        await raise_findings(db, policy, patient=patient, findings=findings, now=now)
    stopped = any(f.stops_checkin for f in findings)
    following = None if stopped else next_question(definition, ctx, answered)
    if stopped:
        checkin.reason = "stopped after an urgent answer"
    if following is None:
        checkin.state, checkin.finished_at = CheckinState.DONE, now
        patient.consecutive_missed = 0
        await release_waiting(db, patient.id, now)
    # the reassurance waits for the last answer, and never follows an urgent one
    texts = reassurance_texts(protocol, answered, ctx) if following is None and not stopped else []
    if reply_by_outbox:
        queue_safety_reply(db, patient=patient, checkin_id=checkin.id, findings=findings, now=now)
    return AnswerResult(
        AnswerStatus.RECORDED,
        checkin,
        definition,
        following,
        answered,
        texts,
        ctx,
        findings=findings,
    )


async def _record_late_answer(
    db: AsyncSession,
    protocol: Protocol,
    policy: AlertPolicy,
    *,
    patient: Patient,
    checkin: Checkin,
    definition: CheckinDef,
    session: NeedlingSession | None,
    stored: list[StoredAnswer],
    ctx: PatientContext,
    question_key: str,
    code: int,
    now: datetime,
    reply_by_outbox: bool = False,
) -> AnswerResult:
    """A tap on a check-in that has closed: triaged first, kept only when it is a red flag.

    The check-in stays closed (no next question, no change of its state); the answer is
    marked late; the alert is raised in the same transaction."""
    assert checkin.id is not None and patient.id is not None
    findings = await _findings(
        db, protocol, patient, checkin, session, stored, ctx, question_key, code, now
    )
    if not is_red_flag(findings):  # nothing is written
        return AnswerResult(AnswerStatus.CLOSED, checkin, definition, context=ctx)
    # the therapist reads that the answer came on a check-in that had closed, and when
    late_line = f"Tapped late, on a check-in that had closed ({checkin.state})"
    findings = [
        replace(f, reasons=(*f.reasons, late_line), fact={**f.fact, "late": True}) for f in findings
    ]
    await _insert_answer(db, checkin, patient, question_key, code, now, late=True)
    await raise_findings(db, policy, patient=patient, findings=findings, now=now)
    if reply_by_outbox:
        queue_safety_reply(db, patient=patient, checkin_id=checkin.id, findings=findings, now=now)
    answered = {**pick_checkin_answers(stored, checkin.id), question_key: code}
    return AnswerResult(
        AnswerStatus.RECORDED,
        checkin,
        definition,
        None,
        answered,
        [],
        ctx,
        findings=findings,
        late=True,
    )


async def _record_red_correction(
    db: AsyncSession,
    protocol: Protocol,
    policy: AlertPolicy,
    *,
    patient: Patient,
    checkin: Checkin,
    definition: CheckinDef,
    session: NeedlingSession | None,
    stored: list[StoredAnswer],
    ctx: PatientContext,
    question_key: str,
    earlier: int,
    code: int,
    now: datetime,
    reply_by_outbox: bool,
) -> AnswerResult | None:
    """A second tap on a question already answered, with a different value — two taps
    before the edit arrived, or an old copy of the message (invariant 8).

    A calmer second value changes nothing (None: the caller answers "already recorded").
    A red flag is never dropped as a duplicate: the stored answer takes the red value (a
    multi question keeps both selections), the alert is raised and the patient gets the
    safety reply, in one transaction. The check-in's own course is not touched: its
    current question stays where it is."""
    assert checkin.id is not None and patient.id is not None
    question = protocol.question(question_key)
    value = code
    if question.kind == "multi":
        union = (earlier | code) & ~exclusive_mask(question)
        value = union if union and is_valid_code(question, union) else code
    findings = await findings_for_answer(
        db,
        protocol,
        patient=patient,
        checkin=checkin,
        session=session,
        history=answer_history(
            [a for a in stored if (a.checkin_id, a.question_key) != (checkin.id, question_key)]
        ),
        question_key=question_key,
        value=value,
        ctx=ctx,
        now=now,
    )
    if not is_red_flag(findings):
        return None
    note = "Changed by a second tap, after a calmer answer to the same question"
    findings = [
        replace(f, reasons=(*f.reasons, note), fact={**f.fact, "changed": True}) for f in findings
    ]
    changed = await db.exec(
        update(Answer)
        .where(
            col(Answer.checkin_id) == checkin.id,
            col(Answer.question_key) == question_key,
            col(Answer.value) == earlier,  # whoever changes it first wins; a race stores once
        )
        .values(value=value, answered_at=now)
    )
    if changed.rowcount != 1:
        await db.rollback()
        return None
    await raise_findings(db, policy, patient=patient, findings=findings, now=now)
    if reply_by_outbox:
        queue_safety_reply(db, patient=patient, checkin_id=checkin.id, findings=findings, now=now)
    answered = {**pick_checkin_answers(stored, checkin.id), question_key: value}
    return AnswerResult(
        AnswerStatus.RECORDED,
        checkin,
        definition,
        None,
        answered,
        [],
        ctx,
        findings=findings,
        late=checkin.state != CheckinState.OPEN,
        corrected=True,
    )
