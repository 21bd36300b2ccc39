"""The desk API's JSON shapes, one pydantic model each (README: "Desk (Mini App)").

The page (static/desk.js) reads exactly these fields; times are ISO 8601 in UTC, ages
in whole minutes of protocol time, patient names as stored (the page escapes them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class Me(BaseModel):
    """GET api/me: who the desk recognised."""

    staff_id: int
    name: str
    role: Literal["therapist", "admin", "staff"]
    clinic: str
    timezone: str  # the clinic's IANA zone: the page shows times in it


class AlertItem(BaseModel):
    """One alert of the queue, and what the caller may still do with it."""

    id: int
    tier: Literal["urgent", "urgent_callback", "soon", "routine"]
    tier_label: str
    patient_id: int
    patient_name: str
    reasons: list[str]
    raised_at: datetime
    age_minutes: int
    state: Literal["open", "acknowledged", "closed", "superseded"]
    escalation_level: int
    occurrences: int
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    called_back_by: str | None = None
    called_back_at: datetime | None = None
    can_acknowledge: bool
    can_call_back: bool


class AlertQueue(BaseModel):
    """GET api/alerts: open alerts and callbacks still to be made, oldest first."""

    alerts: list[AlertItem]


class AlertDone(BaseModel):
    """POST api/alerts/{id}/ack and …/called-back: the outcome, said as the chat says it,
    and the alert as it now is (every chat copy of its card is edited by the outbox)."""

    outcome: Literal["acknowledged", "called_back", "already"]
    message: str
    alert: AlertItem


class PatientRow(BaseModel):
    """One patient in follow-up."""

    id: int
    name: str
    status: Literal[
        "active", "paused", "invited", "discharged", "stopped", "declined", "unreachable"
    ]
    baseline_pain: int
    last_pain: int | None
    last_pain_at: datetime | None
    trend: Literal["↓", "→", "↑", "·"]
    sessions: int
    answered: int
    sent: int
    response_rate: float | None
    exercise_days_last_week: int | None
    open_alerts: int
    next_checkin_at: datetime | None


class PatientList(BaseModel):
    """GET api/patients: the caller's patients in follow-up (an admin's: everyone's)."""

    patients: list[PatientRow]


class Point(BaseModel):
    """One 0–10 rating on the chart."""

    at: datetime
    value: int


class AnswerItem(BaseModel):
    """One answer of the patient, as the answers table shows it."""

    at: datetime
    checkin: str
    question: str
    label: str  # "usual pain", "soreness", … or the question key
    value: int


class PatientDetail(BaseModel):
    """GET api/patients/{id}: the patient page — the chart's series (usual pain Q2,
    soreness Q1, sessions, baseline and responder line) and the answers, newest first."""

    patient: PatientRow
    responder_ceiling: int
    usual_pain: list[Point]
    soreness: list[Point]
    sessions: list[datetime]
    answers: list[AnswerItem]


class ExportSent(BaseModel):
    """POST api/patients/{id}/export: the CSV and FHIR files were sent to the caller's
    chat with the bot (a Mini App cannot hand a phone a file reliably; a chat can)."""

    rows: int
    message: str


class Choice(BaseModel):
    id: int
    name: str


class Region(BaseModel):
    key: str
    label: str


class EnrollForm(BaseModel):
    """GET api/enroll/form: what the one-screen enrollment offers."""

    therapists: list[Choice]
    regions: list[Region]
    minutes_ago: list[int]  # when the session ended: now, 30 min ago …
    link_hours: int
    legs_question: str  # buttock or leg symptoms: Yes / No (the chat's /enroll step)
    legs_yes: str
    legs_no: str
    screening: list[Region]  # the screening facts (care.enrollment.SCREENING_FACTS)
    screening_none: str  # "None of these"


class EnrollRequest(BaseModel):
    """POST api/enroll. `enroll_key` is made by the page once per form: a second copy of
    the same submit (a double tap, a retry) enrolls nobody twice."""

    enroll_key: str = Field(pattern=r"^[A-Za-z0-9_-]{16,64}$")
    name: str = Field(max_length=256)
    therapist_id: int
    minutes_ago: int
    regions: list[str] = Field(max_length=32)
    baseline_pain: int
    # required answers, as in the chat: None means "not answered" and is refused in words
    leg_symptoms: bool | None = None
    screening: list[str] = Field(default_factory=list, max_length=8)  # the facts ticked
    screening_none: bool = False  # "None of these" chosen


class Enrolled(BaseModel):
    """The patient is enrolled: the one-time join link and its QR code (PNG, base64)."""

    patient_id: int
    name: str
    link: str
    qr_png_base64: str
    link_hours: int


class SendLink(BaseModel):
    """POST api/enroll/{patient_id}/send: the join link (as shown) to send to your chat."""

    link: str = Field(max_length=256)


class LinkSent(BaseModel):
    message: str


class Problem(BaseModel):
    """Any refusal (401, 403, 404, 409): one sentence for a person."""

    error: str


# ------------------------------------------------------------------ admin (bot/desk/admin.py)


class StaffRow(BaseModel):
    """One person of the staff list, as /staff shows them."""

    id: int
    name: str
    role: Literal["therapist", "admin", "staff"]
    role_label: str
    active: bool
    deactivated_at: datetime | None
    last_seen_at: datetime | None
    can_deactivate: bool  # active, not the caller, not in ADMIN_IDS (care.staff's rule)


class StaffList(BaseModel):
    """GET api/admin/staff: everyone with a role, active first; what may be invited."""

    staff: list[StaffRow]
    invite_roles: list[Region]  # key "therapist" | "staff", and its label
    link_hours: int


class InviteRequest(BaseModel):
    """POST api/admin/invites: a one-time invitation for this role."""

    role: Literal["therapist", "staff"]


class Invited(BaseModel):
    """The one-time invitation link (works once, for `link_hours`)."""

    role: Literal["therapist", "staff"]
    role_label: str
    link: str
    link_hours: int


class DeactivatePreview(BaseModel):
    """GET api/admin/staff/{id}/deactivate: the chat's confirmation — what would move."""

    staff_id: int
    name: str
    role_label: str
    open_alerts: int
    patients: int


class ReassignPatient(BaseModel):
    """A patient who may get another therapist, and the active therapists they may move to."""

    id: int
    name: str
    status: Literal["active", "paused", "invited"]
    therapist_id: int
    therapist: str
    targets: list[Choice]


class StaffDeactivated(BaseModel):
    """POST api/admin/staff/{id}/deactivate: done once; their open alerts moved, their
    patients listed to reassign."""

    staff_id: int
    name: str
    moved_alerts: int
    message: str
    patients: list[ReassignPatient]


class ReassignList(BaseModel):
    """GET api/admin/reassign: the patients the admin may move (the /reassign picker)."""

    patients: list[ReassignPatient]


class ReassignRequest(BaseModel):
    """POST api/admin/patients/{id}/reassign."""

    therapist_id: int


class Reassigned(BaseModel):
    patient_id: int
    therapist_id: int
    message: str


class AuditRow(BaseModel):
    """One audit event: ids and the action, nothing personal (as /audit)."""

    id: int
    at: datetime
    action: str
    actor_kind: str
    actor_id: int | None
    subject_kind: str | None
    subject_id: int | None


class AuditPage(BaseModel):
    """GET api/admin/audit?action=&actor_kind=&actor=&subject_kind=&subject=&from=&to=&before=
    — newest first, `page_size` at a time; `next_before` asks for the next page."""

    events: list[AuditRow]
    page_size: int
    next_before: int | None
    actions: list[str]  # every action in the log, for the filter


# ---------------------------------------------------------------- front desk (issue 16 item 4)


class FollowedPatient(BaseModel):
    """One patient in follow-up, as the front desk picks them (the chat's /session and
    /discharge pickers)."""

    id: int
    name: str
    status: Literal["active", "paused"]
    therapist: str
    sessions: int
    last_session_at: datetime | None


class FollowedList(BaseModel):
    """GET api/frontdesk/patients?q=…: the patients in follow-up, newest first; with `q`,
    those whose name holds every typed word (case and accents ignored)."""

    patients: list[FollowedPatient]


class SessionForm(BaseModel):
    """GET api/frontdesk/patients/{id}/session: what "Record a session" offers; the last
    session's regions come preselected, as /session ticks them."""

    patient_id: int
    name: str
    last_number: int  # 0: no session yet
    last_ended_at: datetime | None
    last_regions: list[str]
    regions: list[Region]
    minutes_ago: list[int]


class SessionRequest(BaseModel):
    """POST api/frontdesk/patients/{id}/session. `last_number` is the session the form
    saw last: a second copy of the same submit records nothing more."""

    last_number: int
    minutes_ago: int
    regions: list[str] = Field(max_length=32)


class SessionRecorded(BaseModel):
    patient_id: int
    number: int
    message: str


class OpenAlert(BaseModel):
    """An alert still waiting for someone, as the discharge confirmation lists it."""

    id: int
    tier: Literal["urgent", "urgent_callback", "soon", "routine"]
    tier_label: str
    raised_at: datetime
    waiting_for: Literal["acknowledge", "call_back"]


class DischargeCheck(BaseModel):
    """GET api/frontdesk/patients/{id}/discharge: what is still open (care.records.still_open)
    and the chat's confirmation in words (`lines`); nothing changes yet."""

    patient_id: int
    name: str
    alerts: list[OpenAlert]
    open_checkins: int  # sent, not answered yet
    planned_checkins: int  # not sent yet
    lines: list[str]
    confirm: str
    keep: str


class Discharged(BaseModel):
    """POST api/frontdesk/patients/{id}/discharge: done, once (a second confirmation is a
    409 saying the patient is already discharged, and changes nothing)."""

    patient_id: int
    message: str
