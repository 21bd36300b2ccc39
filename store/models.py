"""The tables of careloop, designed for the whole product.

Personal data lives in few columns on purpose (a patient's display name, a staff
member's name, answers), so that erasure (`/delete`) and the no-PII-in-logs rule
are easy to keep: everything else refers to people by numeric ids.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from store.types import UTCDateTime


def _dt(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _tg_id(nullable: bool = True, unique: bool = False) -> Any:
    return Field(
        default=None, sa_column=Column(BigInteger, nullable=nullable, unique=unique, index=True)
    )


class Role(StrEnum):
    ADMIN = "admin"
    STAFF = "staff"
    THERAPIST = "therapist"


class PatientStatus(StrEnum):
    INVITED = "invited"  # enrolled at the desk, link not yet opened and agreed
    ACTIVE = "active"
    PAUSED = "paused"
    DECLINED = "declined"
    STOPPED = "stopped"  # withdrew with /stop
    DISCHARGED = "discharged"
    UNREACHABLE = "unreachable"  # blocked the bot (403)
    DELETED = "deleted"  # personal data erased


class OutboxState(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class OutboxKind(StrEnum):
    """What an outbox row is, and so how the bot edge renders it (bot/delivery.py's table of
    renderers has one entry per kind). The values are what the ``kind`` column stores."""

    CHECKIN = "checkin"  # a check-in's first question
    NUDGE = "nudge"  # the one reminder of an unanswered check-in
    CHECKIN_CLOSED = "checkin_closed"  # a check-in closed undone: its buttons give way
    EXERCISE = "exercise"  # a home-exercise reminder
    NOTICE = "notice"  # a short staff notice, its text key in the payload
    PATIENT_UNREACHABLE = "patient_unreachable"  # the therapist hears a patient blocked the bot
    DIGEST = "digest"  # a therapist's daily digest
    DISCHARGE = "discharge"  # the closing message with the exercise plan to keep
    ALERT = "alert"  # an alert card (or a step of its ladder) to one chat
    ALERT_EDIT = "alert_edit"  # a shown alert card brought up to date
    ALERT_NOTICE = "alert_notice"  # a reply to a shown card: a new finding updated it
    NOTE_MEDIA = "note_media"  # a patient's photo, voice note … copied to their therapist
    SAFETY_REPLY = "safety_reply"  # the safety reply to an answer recorded off the tap
    THERAPIST_CHANGED = "therapist_changed"  # /reassign: the patient hears who it is now
    ERASED_EDIT = "erased_edit"  # a shown message naming an erased patient is redacted
    PROGRAMME_CHANGE = "programme_change"  # the patient hears what their therapist changed
    SESSION_ADVICE = "session_advice"  # after a session: the aftercare, the emergency signs


class CheckinState(StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    DONE = "done"
    EXPIRED = "expired"
    SKIPPED = "skipped"  # its condition was not met when it fell due
    CANCELLED = "cancelled"


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"  # seen; a callback alert still waits for "Call back done"
    CLOSED = "closed"  # called back (or a routine flag told in the digest)
    SUPERSEDED = "superseded"  # a repeat long after it opened a new alert


class StaffMember(SQLModel, table=True):
    """A clinic person with a role: admin, front-desk staff or therapist."""

    __tablename__ = "staff_member"
    id: int | None = Field(default=None, primary_key=True)
    tg_user_id: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True))
    role: str = Field(max_length=16)
    name: str = Field(max_length=128)
    language: str = Field(default="en", max_length=8)
    timezone: str | None = Field(default=None, max_length=64)
    active: bool = True
    created_at: datetime = _dt(nullable=False)
    # Telegram answered 403 (they blocked the bot): alerts go to the others until they
    # next write to the bot, which clears it.
    unreachable_at: datetime | None = _dt()
    # staff leave (issue 11): an admin turned their access off; who and when (audited too)
    deactivated_at: datetime | None = _dt()
    deactivated_by: int | None = None
    # last update from them, written at most every few minutes (care.people.SEEN_EVERY)
    last_seen_at: datetime | None = _dt()
    # the role they had before ADMIN_IDS made them admin: given back when they leave it
    role_before_admin: str | None = Field(default=None, max_length=16)


class LinkToken(SQLModel, table=True):
    """A one-time link: a staff/therapist invitation or a patient's join link.

    Only the SHA-256 of the token is stored, so a leaked database cannot be used
    to join as someone. `bound_tg_user_id` pins a patient link to the first
    Telegram account that opened it.
    """

    __tablename__ = "link_token"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    kind: str = Field(max_length=16)  # "invite" | "join"
    role: str | None = Field(default=None, max_length=16)  # for invites
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    created_by: int | None = Field(default=None, foreign_key="staff_member.id")
    created_at: datetime = _dt(nullable=False)
    expires_at: datetime = _dt(nullable=False)
    bound_tg_user_id: int | None = _tg_id()
    used_at: datetime | None = _dt()


class Patient(SQLModel, table=True):
    """A patient in follow-up. `display_name` is the only identifying field."""

    __tablename__ = "patient"
    id: int | None = Field(default=None, primary_key=True)
    display_name: str | None = Field(default=None, max_length=64)
    therapist_id: int = Field(foreign_key="staff_member.id", index=True)
    enrolled_by: int | None = Field(default=None, foreign_key="staff_member.id")
    status: str = Field(default=PatientStatus.INVITED, max_length=16, index=True)
    tg_user_id: int | None = _tg_id(unique=True)
    language: str = Field(default="en", max_length=8)
    timezone: str | None = Field(default=None, max_length=64)
    reminder_time: str = Field(default="18:00", max_length=5)
    baseline_pain: int
    activities: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    exercises: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # recorded at enrollment (issue 14 item 7): buttock or leg symptoms (asks Q6), and the
    # screening facts the therapist should see (care.enrollment.SCREENING_FACTS); None: not
    # recorded (enrolled before the step existed), []: none of them
    leg_symptoms: bool = False
    screening: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    exercise_reminders: bool = True
    paused_until: datetime | None = _dt()
    missed_checkins: int = 0
    consecutive_missed: int = 0
    created_at: datetime = _dt(nullable=False)
    consented_at: datetime | None = _dt()
    ended_at: datetime | None = _dt()
    # the /enroll conversation that created this patient: unique, so a double tap on the
    # baseline button (or two instances handling it) cannot enroll the patient twice
    enroll_key: str | None = Field(default=None, max_length=32, unique=True, index=True)


class ConsentEvent(SQLModel, table=True):
    """What a patient agreed to (or declined), with the consent text's version."""

    __tablename__ = "consent_event"
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    decision: str = Field(max_length=16)  # agreed | declined | withdrawn
    text_version: str = Field(max_length=32)
    at: datetime = _dt(nullable=False)


class NeedlingSession(SQLModel, table=True):
    """One dry-needling treatment; the anchor (T0) of its check-ins."""

    __tablename__ = "needling_session"
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    number: int
    ended_at: datetime = _dt(nullable=False)
    regions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    recorded_by: int | None = Field(default=None, foreign_key="staff_member.id")
    created_at: datetime = _dt(nullable=False)


class Checkin(SQLModel, table=True):
    """One check-in of a session: its questions are asked one tap at a time."""

    __tablename__ = "checkin"
    __table_args__ = (
        Index("ix_checkin_patient_state", "patient_id", "state"),
        Index("ix_checkin_state_expires", "state", "expires_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    session_id: int | None = Field(default=None, foreign_key="needling_session.id")
    key: str = Field(max_length=32)
    state: str = Field(default=CheckinState.SCHEDULED, max_length=16)
    due_at: datetime = _dt(nullable=False)
    expires_at: datetime = _dt(nullable=False)
    opened_at: datetime | None = _dt()
    finished_at: datetime | None = _dt()
    chat_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    nudged: bool = False
    reason: str | None = Field(default=None, max_length=200)


class Answer(SQLModel, table=True):
    """One tapped answer. The unique key makes a repeated tap a no-op."""

    __tablename__ = "answer"
    __table_args__ = (UniqueConstraint("checkin_id", "question_key", name="uq_answer_question"),)
    id: int | None = Field(default=None, primary_key=True)
    checkin_id: int = Field(foreign_key="checkin.id", index=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    question_key: str = Field(max_length=16)
    value: int
    answered_at: datetime = _dt(nullable=False)
    # tapped after its check-in had closed (expired, superseded, cancelled, done): only a
    # red-flag answer is kept then (issue 10, "a red flag is never lost")
    late: bool = False


class AnswerDraft(SQLModel, table=True):
    """One choice ticked, not yet confirmed with "Done", on a multi question (Q4).

    One row per ticked choice, so "a choice left selected for N minutes counts" is a
    query on selected_at (the sweep records the draft as the answer). A draft survives
    a restart; it is removed when its answer is recorded, and with its check-in
    (ON DELETE CASCADE: erasure deletes check-ins).
    """

    __tablename__ = "answer_draft"
    __table_args__ = (
        UniqueConstraint("checkin_id", "question_key", "choice", name="uq_answer_draft_choice"),
    )
    id: int | None = Field(default=None, primary_key=True)
    checkin_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("checkin.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    patient_id: int = Field(foreign_key="patient.id", index=True)
    question_key: str = Field(max_length=16)
    choice: int
    selected_at: datetime = _dt(nullable=False, index=True)


class OutboxMessage(SQLModel, table=True):
    """A message that must not be lost, written in the transaction that caused it.

    The dispatcher claims due rows (`state`, `due_at`) and renders them by `kind`
    with `payload`; nothing about what is due lives in memory.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "state", "due_at"),
        # urgent rows first without reading every due row (the claim query's order)
        Index("ix_outbox_claim", "state", "urgent", "due_at"),
        Index("ix_outbox_patient_state", "patient_id", "state"),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)  # an OutboxKind value (a plain column: no migration)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    patient_id: int | None = Field(default=None, foreign_key="patient.id")
    staff_id: int | None = Field(default=None, foreign_key="staff_member.id")
    checkin_id: int | None = Field(default=None, foreign_key="checkin.id")
    alert_id: int | None = Field(default=None, foreign_key="alert.id")
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    urgent: bool = False
    state: str = Field(default=OutboxState.PENDING, max_length=16)
    due_at: datetime = _dt(nullable=False)
    expires_at: datetime | None = _dt()
    attempts: int = 0
    claimed_at: datetime | None = _dt()
    claimed_by: str | None = Field(default=None, max_length=64)
    sent_at: datetime | None = _dt()
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    last_error: str | None = Field(default=None, max_length=300)
    created_at: datetime = _dt(nullable=False)


class Alert(SQLModel, table=True):
    """A clinical alert for a therapist: one card for all the findings of an answer.

    `reason_key` is the key of its most severe finding (one open alert per patient and
    reason_key), `reason_keys` every finding's key, `facts` what each finding saw (the
    card's sentences are written from them), `reasons` the rule lines (see care.alerts)."""

    __tablename__ = "alert"
    __table_args__ = (
        Index(
            "uq_alert_open_reason",
            "patient_id",
            "reason_key",
            unique=True,
            sqlite_where=text("state = 'open'"),
            postgresql_where=text("state = 'open'"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    therapist_id: int = Field(foreign_key="staff_member.id", index=True)
    tier: str = Field(max_length=24)
    reason_key: str = Field(max_length=48)
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reason_keys: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    # each finding's facts (a "reason" key and its numbers), in the order of the card: the
    # bot writes the therapist's sentences from them in the clinic's language; `reasons`
    # keeps the English rule lines for the audit (and for alerts raised before this column)
    facts: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    state: str = Field(default=AlertState.OPEN, max_length=16)
    occurrences: int = 1
    escalation_level: int = 0
    next_escalation_at: datetime | None = _dt(index=True)
    created_at: datetime = _dt(nullable=False)
    updated_at: datetime = _dt(nullable=False)
    acknowledged_by: int | None = Field(default=None, foreign_key="staff_member.id")
    acknowledged_at: datetime | None = _dt()
    # a callback alert: when it escalates if "Call back done" has not been tapped (counted
    # in opening hours), and who tapped it, when
    callback_due_at: datetime | None = _dt(index=True)
    called_back_by: int | None = Field(default=None, foreign_key="staff_member.id")
    called_back_at: datetime | None = _dt()


class AlertCopy(SQLModel, table=True):
    """Where an alert was shown, so acknowledging can edit every copy."""

    __tablename__ = "alert_copy"
    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    message_id: int = Field(sa_column=Column(BigInteger, nullable=False))


class AuditEvent(SQLModel, table=True):
    """Who did what to what, when — ids and action names only, never personal data."""

    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _dt(nullable=False, index=True)
    actor_kind: str = Field(max_length=16)  # staff | patient | system
    actor_id: int | None = None
    action: str = Field(max_length=48)
    subject_kind: str | None = Field(default=None, max_length=16)
    subject_id: int | None = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AppState(SQLModel, table=True):
    """Small process-wide facts that must survive restarts (e.g. the clock's origin)."""

    __tablename__ = "app_state"
    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=256)


class PatientNote(SQLModel, table=True):
    """Words a patient typed, kept until they choose to pass them to their therapist.

    A button cannot carry the text (64 bytes, and no personal data in callback data), so
    the text waits here and the button carries only this row's id."""

    __tablename__ = "patient_note"
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    text: str = Field(max_length=4000)
    created_at: datetime = _dt(nullable=False)
    passed_at: datetime | None = _dt()
    # a photo, voice note, sticker … : the message stays in the patient's chat and only its
    # id is kept here, so passing it on copies it to the therapist (the caption is `text`)
    media_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    media_kind: str | None = Field(default=None, max_length=16)


class ProcessedUpdate(SQLModel, table=True):
    """A webhook update already handled: Telegram redelivers what it did not see answered
    (and a replay may come again), so an `update_id` found here is skipped. Pruned after
    a day (Telegram keeps an update at most 24 hours)."""

    __tablename__ = "processed_update"
    update_id: int = Field(
        sa_column=Column(BigInteger, primary_key=True, autoincrement=False, nullable=False)
    )
    handled_at: datetime = _dt(nullable=False, index=True)


class ProgrammeItem(SQLModel, table=True):
    """One exercise of a patient's home programme, with the dosage their therapist set.

    `exercise` is a key of the protocol's library; `sets` × `amount` is in the exercise's
    unit (reps, seconds held, minutes). One row per exercise and patient (unique), so a
    double tap on "add" cannot add it twice; a dosage change is a conditional update on
    the values the button showed, so a stale tap changes nothing."""

    __tablename__ = "programme_item"
    __table_args__ = (UniqueConstraint("patient_id", "exercise", name="uq_programme_exercise"),)
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    exercise: str = Field(max_length=40)
    sets: int
    amount: int
    position: int = 0
    added_at: datetime = _dt(nullable=False)
    changed_by: int | None = Field(default=None, foreign_key="staff_member.id")


class ExerciseLog(SQLModel, table=True):
    """A patient's tap on an exercise of a reminder: done, or too painful, for the day the
    reminder was for (`day`, the patient's local date), whenever the tap came. Unique per
    patient, exercise, day and kind, so a repeated tap logs nothing new."""

    __tablename__ = "exercise_log"
    __table_args__ = (
        UniqueConstraint("patient_id", "exercise", "day", "kind", name="uq_exercise_log"),
    )
    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    exercise: str = Field(max_length=40)
    day: date
    kind: str = Field(max_length=8)  # "done" | "painful"
    at: datetime = _dt(nullable=False)


class ExerciseMedia(SQLModel, table=True):
    """The clinic's own picture, short video or GIF of a library exercise: Telegram's
    `file_id` of what a therapist or admin sent (/media), re-sent by id, never re-uploaded."""

    __tablename__ = "exercise_media"
    exercise: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=16)  # "photo" | "video" | "animation"
    file_id: str = Field(max_length=256)
    set_by: int | None = Field(default=None, foreign_key="staff_member.id")
    set_at: datetime = _dt(nullable=False)
