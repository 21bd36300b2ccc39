"""The therapist's desk: alerts (acknowledge, history, call back), patients, charts, export.

Every button re-checks ownership: a therapist acts only on their own patients' alerts
(or a copy the ladder sent them); admins on all. A forged callback changes nothing.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, F, Router, html
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.alert_view import QUESTION_NAMES, alert_card
from bot.callbacks import AlertAction, AlertCb, PageCb, PatientCardCb, PatientList
from bot.config import Settings
from bot.filters import HasRole
from bot.identity import Actor
from care import audit
from care.alerts import AckOutcome, acknowledge, may_see, open_alerts_for, record_shown
from care.charts import pain_chart_png
from care.context import patient_tz, sessions_of
from care.export_rows import export_rows
from care.exports import answers_csv, fhir_bundle, fhir_json
from care.patient_view import (
    adherence_days,
    chart_series,
    checkin_response,
    open_alert_count,
    recent_ratings,
    therapist_patients,
)
from scheduler.clock import Clock
from store.models import Alert, Patient, Role, StaffMember

log = logging.getLogger(__name__)
PAGE = 8


def _open_private_chat(bot_username: str) -> str:
    """The toast for a card button tapped in a group by someone the bot cannot write to."""
    return (
        f"Open a private chat with the bot first: t.me/{bot_username} (tap Start), "
        "then tap the button again."
    )


async def _card_to_private(
    bot: Bot,
    staff: StaffMember,
    chat_id: int,
    db: AsyncSession,
    patient: Patient,
    settings: Settings,
    clock: Clock,
) -> bool:
    """The card in the tapper's own chat (their user id is their private chat's id).

    False when Telegram will not let the bot write there: 403 for someone who never
    opened a chat with it (or blocked it), 400 "chat not found" for an unknown chat."""
    try:
        await _send_card(bot, chat_id, db, patient, settings, staff, clock)
    except TelegramForbiddenError:
        return False
    except TelegramBadRequest as exc:
        if "chat not found" not in exc.message.lower():
            raise
        return False
    return True


def _owner_filter(staff: StaffMember) -> int | None:
    return None if staff.role == Role.ADMIN else staff.id


def _may_see_patient(staff: StaffMember, patient: Patient) -> bool:
    return staff.role == Role.ADMIN or patient.therapist_id == staff.id


async def _repost(
    bot: Bot, chat_id: int, db: AsyncSession, alert: Alert, settings: Settings, clock: Clock
) -> None:
    """The card again, below; recorded as a copy so every change of state edits it too."""
    text, markup = await alert_card(db, alert, settings.clinic_timezone)
    sent = await bot.send_message(chat_id, text, reply_markup=markup)
    assert alert.id is not None
    await record_shown(
        db, alert_id=alert.id, chat_id=sent.chat.id, message_id=sent.message_id, now=clock.now()
    )


async def alerts_command(
    message: Message,
    staff: StaffMember,
    db: AsyncSession,
    settings: Settings,
    clock: Clock,
    bot: Bot,
) -> None:
    alerts = await open_alerts_for(db, staff)
    if not alerts:
        await message.answer("No open alerts. 🎉")
        return
    for alert in alerts[:20]:
        await _repost(bot, message.chat.id, db, alert, settings, clock)
    if len(alerts) > 20:
        await message.answer(f"…and {len(alerts) - 20} more. Acknowledge these to see the rest.")


async def _alert_for(
    query: CallbackQuery, callback_data: AlertCb, staff: StaffMember, db: AsyncSession
) -> Alert | None:
    """The alert a button points at, when this person may act on it; else the tap is
    refused (None): a therapist acts on their own patients' alerts or a copy the ladder
    sent them, an admin on all."""
    alert = await db.get(Alert, callback_data.alert_id)
    if alert is None or not await may_see(db, staff, alert):
        log.info("alert %s refused for staff %s", callback_data.alert_id, staff.id)
        await query.answer("Sorry, that is not available to you.", show_alert=True)
        return None
    return alert


async def alert_history(
    query: CallbackQuery,
    callback_data: AlertCb,
    actor: Actor,
    staff: StaffMember,
    db: AsyncSession,
    settings: Settings,
    clock: Clock,
    bot: Bot,
    bot_username: str,
) -> None:
    """History: the patient's card, then the alert again, in the tapper's private chat —
    also when tapped in a group (invariant 10): the patient's card and chart are never
    posted where others read."""
    alert = await _alert_for(query, callback_data, staff, db)
    if alert is None:
        return
    patient = await db.get(Patient, alert.patient_id)
    if patient is None:
        await query.answer("This button has expired.", show_alert=True)
        return
    if not await _card_to_private(bot, staff, actor.tg_user_id, db, patient, settings, clock):
        await query.answer(_open_private_chat(bot_username), show_alert=True)
        return
    await _repost(bot, actor.tg_user_id, db, alert, settings, clock)
    await query.answer()


async def alert_acknowledged(
    query: CallbackQuery,
    callback_data: AlertCb,
    staff: StaffMember,
    db: AsyncSession,
    clock: Clock,
) -> None:
    """Acknowledge (also on the clinic group's copy)."""
    await _acknowledge(query, callback_data, staff, db, clock, called_back=False)


async def alert_called_back(
    query: CallbackQuery,
    callback_data: AlertCb,
    staff: StaffMember,
    db: AsyncSession,
    clock: Clock,
) -> None:
    """Call back done (also on the clinic group's copy): acknowledges it too."""
    await _acknowledge(query, callback_data, staff, db, clock, called_back=True)


async def _acknowledge(
    query: CallbackQuery,
    callback_data: AlertCb,
    staff: StaffMember,
    db: AsyncSession,
    clock: Clock,
    *,
    called_back: bool,
) -> None:
    alert = await _alert_for(query, callback_data, staff, db)
    if alert is None:
        return
    result = await acknowledge(
        db,
        alert_id=alert.id or 0,
        staff=staff,
        now=clock.now(),
        called_back=called_back,
    )
    if result.outcome == AckOutcome.ALREADY:
        who = result.by.name if result.by else "someone"
        done = "Call back already recorded" if called_back else "Already acknowledged"
        await query.answer(f"{done} by {who}.")
        return
    if result.outcome == AckOutcome.REFUSED:
        await query.answer("Sorry, that is not available to you.", show_alert=True)
        return
    log.info("alert %s %s by staff %s", alert.id, result.outcome, staff.id)
    await query.answer(
        "Call back recorded ✓" if result.outcome == AckOutcome.CALLED_BACK else "Acknowledged ✓"
    )
    # the tapped copy is edited by the outbox with every other copy, in one consistent way


async def _send_card(
    bot: Bot,
    chat_id: int,
    db: AsyncSession,
    patient: Patient,
    settings: Settings,
    staff: StaffMember,
    clock: Clock,
) -> None:
    """The patient card: chart (PNG), adherence, response rate and the last answers."""
    assert patient.id is not None
    tz = patient_tz(patient, settings.clinic_timezone)
    usual, soreness, sessions = await chart_series(db, patient.id)
    name = patient.display_name or "—"
    png = await asyncio.to_thread(
        pain_chart_png,
        title=f"{name} (#{patient.id})",
        usual_pain=usual,
        soreness=soreness,
        sessions=sessions,
        baseline=patient.baseline_pain,
        tz=tz,
        lang="en",
    )
    answered, sent = await checkin_response(db, patient.id)
    weeks = await adherence_days(db, patient.id)
    ratings = await recent_ratings(db, patient.id, limit=6)
    last = (
        "; ".join(
            f"{QUESTION_NAMES.get(r.question_key, r.question_key)} {r.value} "
            f"({r.at.astimezone(tz):%d/%m})"
            for r in ratings
        )
        or "none yet"
    )
    caption = "\n".join(
        [
            f"<b>{html.quote(name)}</b> (#{patient.id}) · baseline {patient.baseline_pain}/10 · "
            f"{len(sessions)} session(s)",
            f"Check-ins answered: {answered}/{sent}",
            "Exercise days per week: " + (", ".join(str(d) for d in weeks) or "not reported yet"),
            f"Last ratings: {last}",
        ]
    )
    await bot.send_photo(
        chat_id,
        BufferedInputFile(png, filename=f"patient-{patient.id}-pain.png"),
        caption=caption[:1024],
    )
    audit.record(
        db,
        now=clock.now(),
        action="patient_viewed",
        actor_kind="staff",
        actor_id=staff.id,
        subject_kind="patient",
        subject_id=patient.id,
    )
    await db.commit()


def _trend(baseline: int, last: int | None) -> str:
    if last is None:
        return "·"
    if last <= baseline - 2:
        return "↓"
    if last >= baseline + 2:
        return "↑"
    return "→"


async def _patients_page(
    db: AsyncSession, staff: StaffMember, page: int, *, pick: bool
) -> tuple[str, InlineKeyboardBuilder]:
    patients, total = await therapist_patients(
        db, _owner_filter(staff), offset=page * PAGE, limit=PAGE
    )
    builder = InlineKeyboardBuilder()
    lines = [f"<b>Your patients</b> ({total})"] if not pick else ["Which patient?"]
    for patient in patients:
        assert patient.id is not None
        ratings = await recent_ratings(db, patient.id, keys=("Q2",), limit=1)
        last = ratings[0].value if ratings else None
        alerts = await open_alert_count(db, patient.id)
        count = len(await sessions_of(db, patient.id))
        if not pick:
            lines.append(
                f"• <b>{html.quote(patient.display_name or '—')}</b> (#{patient.id}): pain "
                f"{'–' if last is None else last}/10 {_trend(patient.baseline_pain, last)} "
                f"(baseline {patient.baseline_pain}) · {count} session(s)"
                + (f" · ⚠️ {alerts} open alert(s)" if alerts else "")
            )
        builder.button(
            text=f"{patient.display_name or '—'} (#{patient.id})"[:60],
            callback_data=PatientCardCb(patient_id=patient.id),
        )
    builder.adjust(1)
    nav = []
    if page > 0:
        nav.append(("« Previous", page - 1))
    if (page + 1) * PAGE < total:
        nav.append(("Next »", page + 1))
    for label, target in nav:
        builder.button(
            text=label,
            callback_data=PageCb(
                what=PatientList.pick if pick else PatientList.patients, page=target
            ),
        )
    if nav:
        builder.adjust(*([1] * len(patients)), len(nav))
    if not patients:
        lines.append("No patients in follow-up.")
    return "\n".join(lines), builder


async def patients_command(message: Message, staff: StaffMember, db: AsyncSession) -> None:
    text, builder = await _patients_page(db, staff, 0, pick=False)
    await message.answer(text, reply_markup=builder.as_markup())


async def patient_command(message: Message, staff: StaffMember, db: AsyncSession) -> None:
    text, builder = await _patients_page(db, staff, 0, pick=True)
    await message.answer(text, reply_markup=builder.as_markup())


async def page_button(
    query: CallbackQuery, callback_data: PageCb, staff: StaffMember, db: AsyncSession
) -> None:
    text, builder = await _patients_page(
        db, staff, callback_data.page, pick=callback_data.what == PatientList.pick
    )
    await query.answer()
    if isinstance(query.message, Message) and query.message.text is not None:
        markup, shown = builder.as_markup(), query.message.reply_markup
        if query.message.html_text == text and (
            shown is not None
            and shown.model_dump(exclude_none=True) == markup.model_dump(exclude_none=True)
        ):
            return  # the page shown already (a double tap): Telegram refuses a no-op edit
        await query.message.edit_text(text, reply_markup=markup)


async def patient_card_button(
    query: CallbackQuery,
    callback_data: PatientCardCb,
    actor: Actor,
    staff: StaffMember,
    db: AsyncSession,
    settings: Settings,
    clock: Clock,
    bot: Bot,
    bot_username: str,
) -> None:
    """A patient's card, in the tapper's private chat wherever the button was."""
    patient = await db.get(Patient, callback_data.patient_id)
    if patient is None or not _may_see_patient(staff, patient):
        await query.answer("Sorry, that is not available to you.", show_alert=True)
        return
    if not await _card_to_private(bot, staff, actor.tg_user_id, db, patient, settings, clock):
        await query.answer(_open_private_chat(bot_username), show_alert=True)
        return
    await query.answer()


async def export_command(
    message: Message, staff: StaffMember, db: AsyncSession, settings: Settings, clock: Clock
) -> None:
    """The therapist's patients' answers as CSV and as a FHIR R4 Bundle."""
    now = clock.now()
    rows = await export_rows(db, _owner_filter(staff))
    stamp = now.astimezone(settings.clinic_timezone).strftime("%Y%m%d-%H%M")
    await message.answer_document(
        BufferedInputFile(answers_csv(rows), filename=f"careloop-answers-{stamp}.csv"),
        caption=f"{len(rows)} answer(s), CSV.",
    )
    bundle = fhir_bundle(rows, generated_at=now, clinic_name=settings.clinic_name)
    await message.answer_document(
        BufferedInputFile(fhir_json(bundle), filename=f"careloop-fhir-{stamp}.json"),
        caption="The same answers as a FHIR R4 Bundle of Observations.",
    )
    audit.record(
        db,
        now=now,
        action="export",
        actor_kind="staff",
        actor_id=staff.id,
        rows=len(rows),
    )
    await db.commit()
    log.info("export of %d answers by staff %s", len(rows), staff.id)


def register_alert_buttons(router: Router) -> None:
    """An alert card's buttons, one handler per action; in the private chat and on the
    clinic group's copy (bot/routers/group.py). An unknown action parses as no AlertCb
    and reaches the fallback."""
    router.callback_query.register(alert_acknowledged, AlertCb.filter(F.action == AlertAction.ack))
    router.callback_query.register(alert_history, AlertCb.filter(F.action == AlertAction.history))
    router.callback_query.register(
        alert_called_back, AlertCb.filter(F.action == AlertAction.called_back)
    )


def make_router() -> Router:
    """A fresh router (one per dispatcher: aiogram routers attach to one parent)."""
    router = Router(name="therapist")
    router.message.filter(HasRole(Role.THERAPIST, Role.ADMIN))
    router.callback_query.filter(HasRole(Role.THERAPIST, Role.ADMIN))
    router.message.register(alerts_command, Command("alerts"))
    router.message.register(patients_command, Command("patients"))
    router.message.register(patient_command, Command("patient"))
    router.message.register(export_command, Command("export"))
    register_alert_buttons(router)
    router.callback_query.register(page_button, PageCb.filter())
    router.callback_query.register(patient_card_button, PatientCardCb.filter())
    return router
