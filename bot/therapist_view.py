"""How the therapist's desk reads: the /alerts summary, the patient lists, a patient card's
caption, and the short answers to their taps — in the clinic's language (CLINIC_LOCALE);
the patient's name is escaped by `t`."""

from __future__ import annotations

import html as stdlib_html
from datetime import datetime

from aiogram import html
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.alert_view import question_name, reason_sentence, tier_label
from bot.callbacks import AlertsAction, AlertsCb, PageCb, PatientCardCb, PatientList
from bot.desk_view import patient_picker, screening_summary
from bot.formatting import Style, plural
from bot.texts import Raw, t
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
from flows.triage import Tier
from store.models import Alert, AlertState, Patient

PAGE = 8  # patients a page
ALERTS_PAGE = 8  # alerts a page of /alerts
SHORT_REASON = 80  # characters of the first reason a line of /alerts shows


def open_private_chat(bot_username: str, lang: str) -> str:
    """The toast for a card button tapped in a group by someone the bot cannot write to."""
    return t("open_private_chat", lang, bot=bot_username)


def already_done(*, called_back: bool, by: str | None, lang: str) -> str:
    key = "already_called_back" if called_back else "already_acknowledged"
    return t(key, lang, name=by or t("someone", lang))


def done(outcome: AckOutcome, lang: str) -> str:
    key = "called_back_done" if outcome == AckOutcome.CALLED_BACK else "acknowledged_done"
    return t(key, lang)


def csv_caption(rows: int, lang: str) -> str:
    return plural("csv_caption", lang, rows)


def trend(baseline: int, last: int | None) -> str:
    if last is None:
        return "·"
    if last <= baseline - 2:
        return "↓"
    if last >= baseline + 2:
        return "↑"
    return "→"


def _short_reason(alert: Alert, style: Style) -> str:
    """The first finding's sentence (without the patient's words), "(+2)" for the others."""
    facts = list(alert.facts or [])
    first = None
    if facts:
        bare = {k: v for k, v in facts[0].items() if k not in ("words", "late", "changed")}
        first = reason_sentence(bare, style)
    if first is None:  # an alert stored before facts were kept: its first line
        first = html.quote(alert.reasons[0]) if alert.reasons else "—"
        more = len(alert.reasons) - 1
    else:
        more = len(facts) - 1
    first = html.quote(_shortened(stdlib_html.unescape(first)))
    if more > 0:
        return t("alerts_more_reasons", style.lang, reason=Raw(first), more=more)
    return first


def _shortened(text: str, limit: int = SHORT_REASON) -> str:
    """At most `limit` characters, cut at a word: "Chest pain, pain on a deep breath, …"."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _order(alert: Alert) -> tuple[int, datetime, int]:
    """Most severe first; then the longest waiting."""
    return (-Tier(alert.tier).severity, alert.created_at, alert.id or 0)


def alerts_page(
    alerts: list[Alert],
    names: dict[int, str | None],
    page: int,
    style: Style,
    *,
    now: datetime,
) -> tuple[str, InlineKeyboardMarkup]:
    """/alerts: one line per open alert (tier, patient, short reason, age, escalations),
    a button to open each full card and one to acknowledge each open one; paged."""
    lang = style.lang
    if not alerts:
        return t("no_open_alerts", lang), InlineKeyboardMarkup(inline_keyboard=[])
    ordered = sorted(alerts, key=_order)
    pages = (len(ordered) + ALERTS_PAGE - 1) // ALERTS_PAGE
    page = min(max(page, 0), pages - 1)
    shown = ordered[page * ALERTS_PAGE : (page + 1) * ALERTS_PAGE]
    lines = [t("alerts_header", lang, count=len(ordered), page=page + 1, pages=pages)]
    rows: list[list[InlineKeyboardButton]] = []
    for number, alert in enumerate(shown, start=page * ALERTS_PAGE + 1):
        assert alert.id is not None
        name = names.get(alert.patient_id) or "—"
        line = t(
            "alerts_line",
            lang,
            number=number,
            tier=tier_label(alert.tier, lang).split(" ")[0],
            name=name,
            reason=Raw(_short_reason(alert, style)),
            age=style.ago(now - alert.created_at),
        )
        if alert.escalation_level:
            line += " · " + plural("n_escalations", lang, alert.escalation_level)
        lines.append(line)
        label = t("btn_open", lang, number=number, name=name)
        row = [
            InlineKeyboardButton(
                text=_plain(label)[:60],
                callback_data=AlertsCb(
                    action=AlertsAction.open, alert_id=alert.id, page=page
                ).pack(),
            )
        ]
        if alert.state == AlertState.OPEN:
            row.append(
                InlineKeyboardButton(
                    text=t("btn_ack_number", lang, number=number),
                    callback_data=AlertsCb(
                        action=AlertsAction.ack, alert_id=alert.id, page=page
                    ).pack(),
                )
            )
        rows.append(row)
    nav = []
    if page > 0:
        nav.append(("btn_previous", page - 1))
    if page + 1 < pages:
        nav.append(("btn_next", page + 1))
    if nav:
        rows.append(
            [
                InlineKeyboardButton(
                    text=t(key, lang),
                    callback_data=AlertsCb(action=AlertsAction.page, page=target).pack(),
                )
                for key, target in nav
            ]
        )
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def _plain(fragment: str) -> str:
    """A button's text is not HTML: undo the escaping `t` did for the message body."""
    return stdlib_html.unescape(fragment)


async def patients_page(
    db: AsyncSession,
    owner: int | None,
    page: int,
    *,
    pick: bool,
    lang: str,
    ended: bool = False,
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
    elif pick:
        lines = [t("patients_pick", lang)]
    else:
        lines = [t("patients_header", lang, count=total)]
    if not pick:
        for patient in patients:
            lines.append(await _patient_line(db, patient, lang))
    what = PatientList.ended if ended else PatientList.pick if pick else PatientList.patients
    nav = []
    if page > 0:
        nav.append((t("btn_previous", lang), page - 1))
    if (page + 1) * PAGE < total:
        nav.append((t("btn_next", lang), page + 1))
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
        lines.append(t("patients_ended_none" if ended else "patients_none", lang))
    keyboard = patient_picker(patients, lambda pid: PatientCardCb(patient_id=pid), below=below)
    return "\n".join(lines), keyboard


async def _patient_line(db: AsyncSession, patient: Patient, lang: str) -> str:
    assert patient.id is not None
    ratings = await recent_ratings(db, patient.id, keys=("Q2",), limit=1)
    last = ratings[0].value if ratings else None
    alerts = await open_alert_count(db, patient.id)
    count = len(await sessions_of(db, patient.id))
    line = t(
        "patient_line",
        lang,
        name=patient.display_name or "—",
        id=patient.id,
        last="–" if last is None else last,
        trend=trend(patient.baseline_pain, last),
        baseline=patient.baseline_pain,
        sessions=plural("n_sessions", lang, count),
    )
    if alerts:
        line = t(
            "patient_line_alerts",
            lang,
            line=Raw(line),
            alerts=plural("n_open_alerts", lang, alerts),
        )
    return line


def card_caption(
    patient: Patient,
    style: Style,
    *,
    sessions: int,
    response: tuple[int, int],
    weeks: list[int],
    ratings: list[Rating],
    adherence: Adherence | None = None,
) -> str:
    """Under the chart: who, baseline and sessions, the screening facts recorded at
    enrollment, check-ins answered of those sent, exercise days per week, the last
    ratings, in the reader's language. Telegram's caption limit is 1024."""
    lang = style.lang
    answered, sent = response
    last = "; ".join(
        t(
            "card_rating",
            lang,
            question=question_name(r.question_key, lang),
            value=r.value,
            when=style.day(r.at),
        )
        for r in ratings
    ) or t("card_none_yet", lang)
    caption = "\n".join(
        [
            t(
                "card_head",
                lang,
                name=patient.display_name or "—",
                id=patient.id,
                baseline=patient.baseline_pain,
                sessions=plural("n_sessions", lang, sessions),
            ),
            screening_summary(patient, lang),
            t("card_answered", lang, answered=answered, sent=sent),
            t(
                "card_exercise_days",
                lang,
                days=", ".join(str(d) for d in weeks) or t("card_not_reported", lang),
            ),
            *adherence_lines(adherence, lang),
            t("card_last_ratings", lang, ratings=Raw(last)),
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
