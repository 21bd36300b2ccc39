"""Typed callback data: ids and small values only, never personal data (≤ 64 bytes)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class InviteRoleCb(CallbackData, prefix="inv"):
    role: str


class EnrollTherapistCb(CallbackData, prefix="et"):
    staff_id: int


class EnrollTimeCb(CallbackData, prefix="etm"):
    minutes_ago: int


class EnrollRegionCb(CallbackData, prefix="erg"):
    key: str


class EnrollRegionsDoneCb(CallbackData, prefix="ergd"):
    pass


class EnrollBaselineCb(CallbackData, prefix="ebl"):
    value: int


class ConsentCb(CallbackData, prefix="cs"):
    patient_id: int
    agree: bool


class AnswerCb(CallbackData, prefix="a"):
    """One tap on a check-in question: check-in id, question ref key, stored value."""

    c: int
    q: str
    v: int


class ExerciseCb(CallbackData, prefix="ex"):
    action: str  # snooze | stop


class PauseCb(CallbackData, prefix="pz"):
    days: int


class StopCb(CallbackData, prefix="st"):
    confirm: bool


class SettingsCb(CallbackData, prefix="set"):
    field: str  # time | tz | lang


class ReminderTimeCb(CallbackData, prefix="rt"):
    hhmm: str


class LanguageCb(CallbackData, prefix="lg"):
    lang: str


class SessionPatientCb(CallbackData, prefix="sp"):
    patient_id: int


class AlertCb(CallbackData, prefix="al"):
    """A therapist's button on an alert: ack | hist | cb (call back done)."""

    action: str
    alert_id: int


class PatientCardCb(CallbackData, prefix="pc"):
    patient_id: int


class PageCb(CallbackData, prefix="pg"):
    what: str  # patients | pick
    page: int


class DeleteCb(CallbackData, prefix="del"):
    confirm: bool


class NoteCb(CallbackData, prefix="nt"):
    note_id: int


class DischargeCb(CallbackData, prefix="dc"):
    patient_id: int
