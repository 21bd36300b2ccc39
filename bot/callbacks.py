"""Typed callback data: ids and small values only, never personal data (≤ 64 bytes).

A button's action is an Enum field: a forged or unknown value does not parse, so no
handler of that button runs and the tap lands in the one fallback (bot/routers/fallback.py:
"This button has expired", nothing changed). Each action has its own handler, registered
with `Cb.filter(F.action == Action.x)`. The enum values are the strings the buttons have
always carried, so buttons already in people's chats keep working (invariant 4).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

from store.models import Role

# Every number a button carries fits an INTEGER column: forged data with a larger (or a
# negative) number is not a button of ours, instead of an overflow in the database.
Num = Annotated[int, Field(ge=0, le=2**31 - 1)]


class InviteRoleCb(CallbackData, prefix="inv"):
    """The role an admin invites someone as; only the invitable ones have a handler."""

    role: Role


class EnrollTherapistCb(CallbackData, prefix="et"):
    staff_id: Num


class EnrollTimeCb(CallbackData, prefix="etm"):
    minutes_ago: Num


class EnrollRegionCb(CallbackData, prefix="erg"):
    key: str


class EnrollRegionsDoneCb(CallbackData, prefix="ergd"):
    pass


class EnrollLegsCb(CallbackData, prefix="elg"):
    """Buttock or leg symptoms at enrollment: yes / no."""

    yes: bool


class ScreenAction(StrEnum):
    toggle = "t"  # tick or untick fact `i`
    none = "n"  # none of these
    done = "d"  # what is ticked is the answer


class EnrollScreenCb(CallbackData, prefix="esc"):
    """The screening step: the index of a fact in care.enrollment.SCREENING_FACTS."""

    action: ScreenAction
    i: Num = 0


class EnrollBaselineCb(CallbackData, prefix="ebl"):
    value: Num


class ConsentCb(CallbackData, prefix="cs"):
    patient_id: Num
    agree: bool


class ConsentLangCb(CallbackData, prefix="csl"):
    """The language buttons under the consent text: show it (and all that follows) in `lang`."""

    patient_id: Num
    lang: str


class AnswerCb(CallbackData, prefix="a"):
    """One tap on a check-in question: check-in id, question ref key, stored value."""

    c: Num
    q: str
    v: Num


class MultiAction(StrEnum):
    toggle = "t"
    done = "d"


class MultiCb(CallbackData, prefix="m"):
    """A tap on a multi question (Q4): toggle choice `i`, or Done (`i` unused, 0).

    Check-in id, question ref key and the choice's index only; the selection itself is
    kept in the database (answer_draft), so the buttons stay stateless (invariant 4)."""

    action: MultiAction
    c: Num
    q: str
    i: Num = 0


class ExerciseAction(StrEnum):
    snooze = "snooze"  # remind me in an hour
    stop = "stop"  # no more exercise reminders


class ExerciseCb(CallbackData, prefix="ex"):
    """Stop (any reminder's), and the snooze of reminders sent before SnoozeCb: stale."""

    action: ExerciseAction


class SnoozeCb(CallbackData, prefix="exz"):
    """ "Remind me in 1 h" under one exercise reminder: `r` is its outbox row, so the
    button works for that reminder on the day it was sent, and no later."""

    r: Num


class PauseCb(CallbackData, prefix="pz"):
    days: Num


class StopCb(CallbackData, prefix="st"):
    confirm: bool


class SettingsField(StrEnum):
    time = "time"  # the daily reminder time
    tz = "tz"  # the time zone
    lang = "lang"  # the language


class SettingsCb(CallbackData, prefix="set"):
    field: SettingsField


class ReminderTimeCb(CallbackData, prefix="rt"):
    hhmm: str


class LanguageCb(CallbackData, prefix="lg"):
    lang: str


class TimezoneCb(CallbackData, prefix="tz"):
    """A time zone button: its IANA name (no personal data; validated on the tap)."""

    zone: str


class SessionPatientCb(CallbackData, prefix="sp"):
    patient_id: Num


class AlertAction(StrEnum):
    ack = "ack"  # Acknowledge
    history = "hist"  # History: the patient's card in the tapper's private chat
    called_back = "cb"  # Call back done


class AlertCb(CallbackData, prefix="al"):
    """A therapist's button on an alert (also on the clinic group's copy)."""

    action: AlertAction
    alert_id: Num


class AlertsAction(StrEnum):
    open = "o"  # the full card, below
    ack = "a"  # Acknowledge from the list; the page is drawn again
    page = "p"  # Previous / Next


class AlertsCb(CallbackData, prefix="als"):
    """A button of the /alerts summary: the alert id (0 for a page turn) and the page."""

    action: AlertsAction
    alert_id: Num = 0
    page: Num = 0


class PatientCardCb(CallbackData, prefix="pc"):
    patient_id: Num


class PatientList(StrEnum):
    """Which paged list of the therapist's patients a Previous / Next button turns."""

    patients = "patients"  # /patients: a line per patient with their trend
    pick = "pick"  # /patient: names only, to pick one for their card
    ended = "ended"  # /patients' "Ended" page: discharged, stopped, declined … (still cards)
    session = "session"  # the desk's /session picker
    discharge = "discharge"  # the desk's /discharge picker


class PageCb(CallbackData, prefix="pg"):
    what: PatientList
    page: Num


class DeleteCb(CallbackData, prefix="del"):
    confirm: bool


class NoteCb(CallbackData, prefix="nt"):
    note_id: Num


class DischargeCb(CallbackData, prefix="dc"):
    """A name on /discharge: asks to confirm (it never discharged at once since issue 14)."""

    patient_id: Num


class DischargeAction(StrEnum):
    confirm = "y"  # "Yes, discharge"
    keep = "n"  # "No, keep"


class DischargeConfirmCb(CallbackData, prefix="dcc"):
    """The confirmation's buttons; the patient is re-checked on every tap."""

    action: DischargeAction
    patient_id: Num


class SymptomAction(StrEnum):
    start = "start"


class SymptomCb(CallbackData, prefix="sy"):
    """ "Report a new symptom": opens the red-flag questions outside any check-in.

    Shown on the free-text reply and on every check-in that has closed (issue 10)."""

    action: SymptomAction


class StaffAction(StrEnum):
    ask = "a"  # "Deactivate" on /staff: show what would move
    confirm = "c"  # "Yes, deactivate"
    keep = "k"  # "No, keep"


class StaffCb(CallbackData, prefix="sf"):
    """An admin's button on /staff. The staff id only; re-authorized on every tap."""

    action: StaffAction
    staff_id: Num


class ReassignAction(StrEnum):
    patient = "p"  # the patient picked: show the therapists
    to = "t"  # the new therapist picked: move the patient


class ReassignCb(CallbackData, prefix="ra"):
    """/reassign and the patient list after a deactivation: ids only."""

    action: ReassignAction
    patient_id: Num
    staff_id: Num = 0


class ProgrammeAction(StrEnum):
    show = "s"  # "Programme" on a patient card: the list
    item = "i"  # one exercise: type a dosage, progress, remove
    up = "u"  # dosage one step up
    down = "d"  # dosage one step down
    type = "t"  # type a dosage
    progress = "p"  # to the exercise's next one
    remove = "r"
    add = "a"  # the library's categories
    category = "c"  # a category's exercises (k: its index)
    pick = "k"  # add this exercise (k: its index in the library)


class ProgrammeCb(CallbackData, prefix="pr"):
    """A therapist's button on a patient's home programme: ids and numbers only.

    `i` a programme row, `s`/`a` the sets and amount the button showed (a dosage change
    applies only if the row still has them: a double or stale tap changes nothing), `k` an
    index into the library or its categories (the handler checks it against the row)."""

    action: ProgrammeAction
    p: Num
    i: Num = 0
    s: Num = 0
    a: Num = 0
    k: Num = 0


class ExerciseLogAction(StrEnum):
    done = "d"  # this exercise, done
    pain = "p"  # this exercise, too painful
    all = "a"  # every exercise the reminder listed, done


class ExerciseLogCb(CallbackData, prefix="xl"):
    """A patient's tap on an exercise reminder: the reminder's outbox row (its day, and
    whose it is) and the exercise's index in the library (0 for All done)."""

    action: ExerciseLogAction
    r: Num
    k: Num = 0


class MediaCb(CallbackData, prefix="md"):
    """The exercise (its index in the library) a therapist's just-sent picture, video or
    GIF is for; the file itself waits in their conversation state, not in the button."""

    k: Num
