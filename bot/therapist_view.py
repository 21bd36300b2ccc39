"""How the therapist's desk reads: the patient lists, a patient card's caption, and the
short answers to their taps (staff texts are English; the patient's name is escaped)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram import html
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.alert_view import QUESTION_NAMES
from bot.callbacks import PageCb, PatientCardCb, PatientList
from bot.desk_view import patient_picker, screening_summary
from bot.texts import t
from care.alerts import AckOutcome
from care.context import sessions_of
from care.patient_view import (
    Adherence,
    Rating,
    open_alert_count,
    recent_ratings,
    therapist_patients,
)
from care.sessions import ENDED_COURSES, FOLLOWED
from store.models import Patient

PAGE = 8  # patients a page
ALERTS_SHOWN = 20  # open alerts /alerts reposts at once

NOT_AVAILABLE = "Sorry, that is not available to you."
EXPIRED = "This button has expired."
NO_OPEN_ALERTS = "No open alerts. 🎉"


def more_alerts(count: int) -> str:
    return f"…and {count} more. Acknowledge these to see the rest."


def open_private_chat(bot_username: str) -> str:
    """The toast for a card button tapped in a group by someone the bot cannot write to."""
    return (
        f"Open a private chat with the bot first: t.me/{bot_username} (tap Start), "
        "then tap the button again."
    )


def already_done(*, called_back: bool, by: str | None) -> str:
    done = "Call back already recorded" if called_back else "Already acknowledged"
    return f"{done} by {by or 'someone'}."


def done(outcome: AckOutcome) -> str:
    return "Call back recorded ✓" if outcome == AckOutcome.CALLED_BACK else "Acknowledged ✓"


def csv_caption(rows: int) -> str:
    return f"{rows} answer(s), CSV."


FHIR_CAPTION = "The same answers as a FHIR R4 Bundle of Observations."


def trend(baseline: int, last: int | None) -> str:
    if last is None:
        return "·"
    if last <= baseline - 2:
        return "↓"
    if last >= baseline + 2:
        return "↑"
    return "→"


async def patients_page(
    db: AsyncSession,
    owner: int | None,
    page: int,
    *,
    pick: bool,
    ended: bool = False,
    lang: str = "en",
) -> tuple[str, InlineKeyboardMarkup]:
    """A page of the therapist's patients (`owner`; None: an admin's, everyone's): /patients
    with a line each (usual pain, trend, sessions, open alerts), or /patient's names only
    (in follow-up and ended: a discharged patient is still found); `ended`: the ended
    courses (discharged, stopped, declined …), whose cards and data stay reachable. A
    button per patient for their card, Previous / Next, and the way between the two."""
    statuses = ENDED_COURSES if ended else FOLLOWED + ENDED_COURSES if pick else FOLLOWED
    patients, total = await therapist_patients(
        db, owner, offset=page * PAGE, limit=PAGE, statuses=statuses
    )
    if ended:
        lines = [t("patients_ended_header", lang, count=total)]
    else:
        lines = [f"<b>Your patients</b> ({total})"] if not pick else ["Which patient?"]
    if not pick:
        for patient in patients:
            lines.append(await _patient_line(db, patient))
    what = PatientList.ended if ended else PatientList.pick if pick else PatientList.patients
    nav = []
    if page > 0:
        nav.append(("« Previous", page - 1))
    if (page + 1) * PAGE < total:
        nav.append(("Next »", page + 1))
    below = [
        InlineKeyboardButton(text=label, callback_data=PageCb(what=what, page=target).pack())
        for label, target in nav
    ]
    if not pick:  # /patients ⇄ its "Ended" page
        other = PatientList.patients if ended else PatientList.ended
        label = t("btn_in_follow_up" if ended else "btn_ended_courses", lang)
        below.append(
            InlineKeyboardButton(text=label, callback_data=PageCb(what=other, page=0).pack())
        )
    if not patients:
        lines.append(t("patients_ended_none", lang) if ended else "No patients in follow-up.")
    keyboard = patient_picker(patients, lambda pid: PatientCardCb(patient_id=pid), below=below)
    return "\n".join(lines), keyboard


async def _patient_line(db: AsyncSession, patient: Patient) -> str:
    assert patient.id is not None
    ratings = await recent_ratings(db, patient.id, keys=("Q2",), limit=1)
    last = ratings[0].value if ratings else None
    alerts = await open_alert_count(db, patient.id)
    count = len(await sessions_of(db, patient.id))
    return (
        f"• <b>{html.quote(patient.display_name or '—')}</b> (#{patient.id}): pain "
        f"{'–' if last is None else last}/10 {trend(patient.baseline_pain, last)} "
        f"(baseline {patient.baseline_pain}) · {count} session(s)"
        + (f" · ⚠️ {alerts} open alert(s)" if alerts else "")
    )


def card_caption(
    patient: Patient,
    tz: ZoneInfo,
    *,
    sessions: int,
    response: tuple[int, int],
    weeks: list[int],
    ratings: list[Rating],
    lang: str = "en",
    adherence: Adherence | None = None,
) -> str:
    """Under the chart: who, baseline and sessions, the screening facts recorded at
    enrollment, check-ins answered of those sent,
    exercise days per week, the last ratings. Telegram's caption limit is 1024."""
    answered, sent = response
    last = (
        "; ".join(
            f"{QUESTION_NAMES.get(r.question_key, r.question_key)} {r.value} "
            f"({r.at.astimezone(tz):%d/%m})"
            for r in ratings
        )
        or "none yet"
    )
    name = patient.display_name or "—"
    caption = "\n".join(
        [
            f"<b>{html.quote(name)}</b> (#{patient.id}) · baseline {patient.baseline_pain}/10 · "
            f"{sessions} session(s)",
            screening_summary(patient, lang),
            f"Check-ins answered: {answered}/{sent}",
            "Exercise days per week: " + (", ".join(str(d) for d in weeks) or "not reported yet"),
            *adherence_lines(adherence, lang),
            f"Last ratings: {last}",
        ]
    )
    return caption[:1024]


def adherence_lines(adherence: Adherence | None, lang: str) -> list[str]:
    """Per exercise of the programme: days logged done / days planned, last 7 and 28 days
    (from the logs; "nothing logged yet" until the patient logs one)."""
    if adherence is None:
        return []
    if not adherence.logged_any:
        return [t("card_adherence_none", lang)]
    return [t("card_adherence_header", lang)] + [
        t(
            "card_adherence_line",
            lang,
            name=a.exercise.name.get(lang),
            done7=a.done[0],
            planned7=a.planned[0],
            done28=a.done[1],
            planned28=a.planned[1],
        )
        for a in adherence.per_exercise
    ]
