"""The therapist's desk: alerts (acknowledge, history, call back), patients, charts, export.

Every button re-checks ownership: a therapist acts only on their own patients' alerts
(or a copy the ladder sent them); admins on all. A forged callback changes nothing.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.alert_view import alert_card
from bot.callbacks import (
    AlertAction,
    AlertCb,
    AlertsAction,
    AlertsCb,
    PageCb,
    PatientCardCb,
    PatientList,
)
from bot.config import Settings
from bot.desk.menu import desk_url_for_chat
from bot.desk_view import desk_matches
from bot.filters import HasRole
from bot.formatting import Style, language_of, staff_style
from bot.programme_view import programme_button
from bot.texts import t
from bot.therapist_view import (
    alerts_page,
    already_done,
    card_caption,
    csv_caption,
    done,
    open_private_chat,
    patients_page,
)
from bot.typed import strip_control
from care import audit
from care.alerts import AckOutcome, acknowledge, may_see, open_alerts_for, record_shown
from care.charts import pain_chart_png
from care.context import patient_tz
from care.digest import staff_tz
from care.export_rows import export_rows
from care.exports import answers_csv, fhir_bundle, fhir_json
from care.patient_view import (
    adherence_days,
    chart_series,
    checkin_response,
    exercise_adherence,
    may_see_patient,
    patient_names,
    recent_ratings,
)
from care.sessions import ENDED_COURSES, FOLLOWED, patients_in
from flows.protocol import Protocol
from scheduler.clock import Clock
from store.models import Alert, Patient, Role, StaffMember

log = logging.getLogger(__name__)


async def _card_to_private(
    bot: Bot,
    staff: StaffMember,
    db: AsyncSession,
    patient: Patient,
    settings: Settings,
    clock: Clock,
    protocol: Protocol,
) -> bool:
    """The card in the tapper's own chat (their user id is their private chat's id).

    False when Telegram will not let the bot write there: 403 for someone who never
    opened a chat with it (or blocked it), 400 "chat not found" for an unknown chat."""
    try:
        await _send_card(bot, staff.tg_user_id, db, patient, settings, staff, clock, protocol)
    except TelegramForbiddenError:
        return False
    except TelegramBadRequest as exc:
        if "chat not found" not in exc.message.lower():
            raise
        return False
    return True


def _style(settings: Settings, staff: StaffMember) -> Style:
    """The clinic's locale and zone; the zone is named when the reader's own differs."""
    tz = settings.clinic_timezone
    return staff_style(settings.clinic_locale, tz, home=staff_tz(staff, tz))


def _lang(settings: Settings) -> str:
    return language_of(settings.clinic_locale)


def _owner_filter(staff: StaffMember) -> int | None:
    return None if staff.role == Role.ADMIN else staff.id


async def _repost(
    bot: Bot,
    chat_id: int,
    db: AsyncSession,
    alert: Alert,
    settings: Settings,
    clock: Clock,
    staff: StaffMember,
) -> None:
    """The card again, below; recorded as a copy so every change of state edits it too."""
    desk_url = desk_url_for_chat(chat_id, settings.desk_url)
    text, markup = await alert_card(db, alert, _style(settings, staff), desk_url=desk_url)
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
    """A line per open alert with buttons to open its card or acknowledge it (not a
    repost of every card)."""
    text, markup = await _alerts_summary(db, staff, settings, clock, page=0)
    await message.answer(text, reply_markup=markup)


async def _alerts_summary(
    db: AsyncSession, staff: StaffMember, settings: Settings, clock: Clock, *, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    alerts = await open_alerts_for(db, staff)
    names = await patient_names(db, {a.patient_id for a in alerts})
    return alerts_page(alerts, names, page, _style(settings, staff), now=clock.now())


async def _redraw_summary(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
    """Draw the summary page again in the tapped message (a no-op edit is not sent)."""
    if not isinstance(query.message, Message) or query.message.text is None:
        return
    shown = query.message.reply_markup
    same_markup = shown is not None and shown.model_dump(exclude_none=True) == markup.model_dump(
        exclude_none=True
    )
    if query.message.html_text == text and (
        same_markup or (shown is None and not markup.inline_keyboard)
    ):
        return
    await query.message.edit_text(text, reply_markup=markup)


async def alerts_summary_button(
    query: CallbackQuery,
    callback_data: AlertsCb,
    staff: StaffMember,
    db: AsyncSession,
    settings: Settings,
    clock: Clock,
    bot: Bot,
) -> None:
    """/alerts' buttons: open a full card below, acknowledge one, or turn the page.
    Opening and acknowledging re-check ownership as the card's own buttons do."""
    lang = _lang(settings)
    if callback_data.action == AlertsAction.page:
        text, markup = await _alerts_summary(db, staff, settings, clock, page=callback_data.page)
        await query.answer()
        await _redraw_summary(query, text, markup)
        return
    alert = await db.get(Alert, callback_data.alert_id)
    if alert is None or not await may_see(db, staff, alert):
        log.info("alert %s refused for staff %s", callback_data.alert_id, staff.id)
        await query.answer(t("not_allowed", lang), show_alert=True)
        return
    if callback_data.action == AlertsAction.open:
        await query.answer()
        chat_id = query.message.chat.id if query.message else staff.tg_user_id
        await _repost(bot, chat_id, db, alert, settings, clock, staff)
        return
    result = await acknowledge(
        db, alert_id=alert.id or 0, staff=staff, now=clock.now(), called_back=False
    )
    if result.outcome == AckOutcome.REFUSED:
        await query.answer(t("not_allowed", lang), show_alert=True)
        return
    if result.outcome == AckOutcome.ALREADY:
        by = result.by.name if result.by else None
        await query.answer(already_done(called_back=False, by=by, lang=lang))
    else:
        log.info("alert %s %s by staff %s from /alerts", alert.id, result.outcome, staff.id)
        await query.answer(done(result.outcome, lang))
    text, markup = await _alerts_summary(db, staff, settings, clock, page=callback_data.page)
    await _redraw_summary(query, text, markup)


async def _alert_for(
    query: CallbackQuery,
    callback_data: AlertCb,
    staff: StaffMember,
    db: AsyncSession,
    settings: Settings,
) -> Alert | None:
    """The alert a button points at, when this person may act on it; else the tap is
    refused (None): a therapist acts on their own patients' alerts or a copy the ladder
    sent them, an admin on all."""
    alert = await db.get(Alert, callback_data.alert_id)
    if alert is None or not await may_see(db, staff, alert):
        log.info("alert %s refused for staff %s", callback_data.alert_id, staff.id)
        await query.answer(t("not_allowed", _lang(settings)), show_alert=True)
        return None
    return alert


async def alert_history(
    query: CallbackQuery,
    callback_data: AlertCb,
    staff: StaffMember,
    db: AsyncSession,
    settings: Settings,
    clock: Clock,
    bot: Bot,
    bot_username: str,
    protocol: Protocol,
) -> None:
    """History: the patient's card, then the alert again, in the tapper's private chat —
    also when tapped in a group (invariant 10): the patient's card and chart are never
    posted where others read."""
    alert = await _alert_for(query, callback_data, staff, db, settings)
    if alert is None:
        return
    patient = await db.get(Patient, alert.patient_id)
    if patient is None:
        await query.answer(t("button_expired", _lang(settings)), show_alert=True)
        return
    if not await _card_to_private(bot, staff, db, patient, settings, clock, protocol):
        await query.answer(open_private_chat(bot_username, _lang(settings)), show_alert=True)
        return
    await _repost(bot, staff.tg_user_id, db, alert, settings, clock, staff)
    await query.answer()


async def alert_acknowledged(
    query: CallbackQuery,
    callback_data: AlertCb,
    staff: StaffMember,
    db: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> None:
    """Acknowledge (also on the clinic group's copy)."""
    await _acknowledge(query, callback_data, staff, db, settings, clock, called_back=False)


async def alert_called_back(
    query: CallbackQuery,
    callback_data: AlertCb,
    staff: StaffMember,
    db: AsyncSession,
    settings: Settings,
    clock: Clock,
) -> None:
    """Call back done (also on the clinic group's copy): acknowledges it too."""
    await _acknowledge(query, callback_data, staff, db, settings, clock, called_back=True)


async def _acknowledge(
    query: CallbackQuery,
    callback_data: AlertCb,
    staff: StaffMember,
    db: AsyncSession,
    settings: Settings,
    clock: Clock,
    *,
    called_back: bool,
) -> None:
    lang = _lang(settings)
    alert = await _alert_for(query, callback_data, staff, db, settings)
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
        by = result.by.name if result.by else None
        await query.answer(already_done(called_back=called_back, by=by, lang=lang))
        return
    if result.outcome == AckOutcome.REFUSED:
        await query.answer(t("not_allowed", lang), show_alert=True)
        return
    log.info("alert %s %s by staff %s", alert.id, result.outcome, staff.id)
    await query.answer(done(result.outcome, lang))
    # the tapped copy is edited by the outbox with every other copy, in one consistent way


async def _send_card(
    bot: Bot,
    chat_id: int,
    db: AsyncSession,
    patient: Patient,
    settings: Settings,
    staff: StaffMember,
    clock: Clock,
    protocol: Protocol,
) -> None:
    """The patient card: chart (PNG), adherence, response rate and the last answers."""
    assert patient.id is not None
    tz = patient_tz(patient, settings.clinic_timezone)
    usual, soreness, sessions = await chart_series(db, patient.id)
    adherence = await exercise_adherence(
        db, protocol, patient, now=clock.now(), default_tz=settings.clinic_timezone
    )
    name = patient.display_name or "—"
    png = await asyncio.to_thread(
        pain_chart_png,
        title=f"{name} (#{patient.id})",
        usual_pain=usual,
        soreness=soreness,
        sessions=sessions,
        baseline=patient.baseline_pain,
        tz=tz,
        lang=_lang(settings),
        locale=settings.clinic_locale,
        adherence=adherence.days,
    )
    caption = card_caption(
        patient,
        # the patient's own zone, named when it is not the clinic's
        staff_style(settings.clinic_locale, tz, home=staff_tz(staff, settings.clinic_timezone)),
        sessions=len(sessions),
        response=await checkin_response(db, patient.id),
        weeks=await adherence_days(db, patient.id),
        ratings=await recent_ratings(db, patient.id, limit=6),
        adherence=adherence,
    )
    await bot.send_photo(
        chat_id,
        BufferedInputFile(png, filename=f"patient-{patient.id}-pain.png"),
        caption=caption,
        reply_markup=programme_button(patient.id),
    )
    await audit.record_access(
        db,
        now=clock.now(),
        action="patient_viewed",
        staff_id=staff.id,
        subject_kind="patient",
        subject_id=patient.id,
    )


async def patients_command(
    message: Message, staff: StaffMember, db: AsyncSession, settings: Settings
) -> None:
    text, keyboard = await patients_page(
        db, _owner_filter(staff), 0, pick=False, lang=_lang(settings)
    )
    await message.answer(text, reply_markup=keyboard)


async def patient_command(
    message: Message,
    command: CommandObject,
    staff: StaffMember,
    db: AsyncSession,
    settings: Settings,
) -> None:
    """/patient: pick a name (in follow-up or ended); /patient ana: the names holding "ana"."""
    typed = strip_control(command.args or "").strip()[:64]
    if typed:
        patients = await patients_in(
            db, FOLLOWED + ENDED_COURSES, therapist_id=_owner_filter(staff)
        )
        text, markup = desk_matches(
            patients, typed, lambda pid: PatientCardCb(patient_id=pid), _lang(settings)
        )
        await message.answer(text, reply_markup=markup)
        return
    text, keyboard = await patients_page(
        db, _owner_filter(staff), 0, pick=True, lang=_lang(settings)
    )
    await message.answer(text, reply_markup=keyboard)


async def page_button(
    query: CallbackQuery,
    callback_data: PageCb,
    staff: StaffMember,
    db: AsyncSession,
    settings: Settings,
) -> None:
    text, markup = await patients_page(
        db,
        _owner_filter(staff),
        callback_data.page,
        pick=callback_data.what == PatientList.pick,
        ended=callback_data.what == PatientList.ended,
        lang=_lang(settings),
    )
    await query.answer()
    if isinstance(query.message, Message) and query.message.text is not None:
        shown = query.message.reply_markup
        if query.message.html_text == text and (
            shown is not None
            and shown.model_dump(exclude_none=True) == markup.model_dump(exclude_none=True)
        ):
            return  # the page shown already (a double tap): Telegram refuses a no-op edit
        await query.message.edit_text(text, reply_markup=markup)


async def patient_card_button(
    query: CallbackQuery,
    callback_data: PatientCardCb,
    staff: StaffMember,
    db: AsyncSession,
    settings: Settings,
    clock: Clock,
    bot: Bot,
    bot_username: str,
    protocol: Protocol,
) -> None:
    """A patient's card, in the tapper's private chat wherever the button was."""
    patient = await db.get(Patient, callback_data.patient_id)
    if patient is None or not may_see_patient(staff, patient):
        await query.answer(t("not_allowed", _lang(settings)), show_alert=True)
        return
    if not await _card_to_private(bot, staff, db, patient, settings, clock, protocol):
        await query.answer(open_private_chat(bot_username, _lang(settings)), show_alert=True)
        return
    await query.answer()


async def export_command(
    message: Message,
    staff: StaffMember,
    db: AsyncSession,
    settings: Settings,
    clock: Clock,
    protocol: Protocol,
) -> None:
    """The therapist's patients' answers as CSV and as a FHIR R4 Bundle. The CSV says each
    question and answer in words in the staff's language (CLINIC_LOCALE's), beside the
    codes."""
    now = clock.now()
    rows = await export_rows(db, _owner_filter(staff), protocol=protocol, lang=_lang(settings))
    stamp = now.astimezone(settings.clinic_timezone).strftime("%Y%m%d-%H%M")
    await message.answer_document(
        BufferedInputFile(answers_csv(rows), filename=f"careloop-answers-{stamp}.csv"),
        caption=csv_caption(len(rows), _lang(settings)),
    )
    bundle = fhir_bundle(rows, generated_at=now, clinic_name=settings.clinic_name or "our clinic")
    await message.answer_document(
        BufferedInputFile(fhir_json(bundle), filename=f"careloop-fhir-{stamp}.json"),
        caption=t("fhir_caption", _lang(settings)),
    )
    await audit.record_access(db, now=now, action="export", staff_id=staff.id, rows=len(rows))
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
    router.callback_query.register(
        page_button,
        PageCb.filter(F.what.in_({PatientList.patients, PatientList.pick, PatientList.ended})),
    )
    router.callback_query.register(alerts_summary_button, AlertsCb.filter())
    router.callback_query.register(patient_card_button, PatientCardCb.filter())
    return router
