"""The patient's own controls: /symptom, /pause, /resume, /stop, /settings, /language."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot, F, Router, html
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import (
    LanguageCb,
    PauseCb,
    ReminderTimeCb,
    SettingsCb,
    SettingsField,
    StopCb,
    SymptomAction,
    SymptomCb,
    TimezoneCb,
)
from bot.checkin_view import checkin_text, question_keyboard
from bot.commands import set_commands_for
from bot.config import Settings
from bot.controls_view import (
    LANGUAGE_NAMES,
    REMINDER_CHOICES,
    language_keyboard,
    pause_keyboard,
    reminder_time_keyboard,
    settings_keyboard,
    settings_text,
    stop_keyboard,
    timezone_keyboard,
)
from bot.filters import IsPatient
from bot.formatting import Style, patient_locale, plural
from bot.replies import close_with_choice
from bot.texts import CONSENT_VERSION, LANGUAGES, clinic_of, t, toast
from care import controls
from care.context import patient_tz
from care.sessions import FOLLOWED
from care.symptoms import REPORTING_STATUSES, mark_symptom_sent, open_symptom_report
from flows.protocol import Protocol
from flows.timezones import find_zones, neighbours, zone_label
from scheduler.clock import Clock
from store.models import Patient

log = logging.getLogger(__name__)


class SettingsInput(StatesGroup):
    time = State()
    tz = State()


async def _refuse(target: Message | CallbackQuery, key: str, lang: str, settings: Settings) -> None:
    text = t(key, lang, clinic=clinic_of(settings.clinic_name, lang))
    if isinstance(target, CallbackQuery):
        await target.answer(
            toast(key, lang, clinic=clinic_of(settings.clinic_name, lang)), show_alert=True
        )
        # the follow-up has ended: no question of it is open any more, so the tapped
        # message's buttons go with the answer and cannot be tapped again
        message = target.message
        if (
            key == "patient_inactive"
            and isinstance(message, Message)
            and message.reply_markup is not None
        ):
            with contextlib.suppress(TelegramBadRequest):
                await message.edit_reply_markup(reply_markup=None)
    else:
        await target.answer(text)


async def pause_command(message: Message, patient: Patient) -> None:
    lang = patient.language
    await message.answer(
        t("pause_ask", lang), reply_markup=pause_keyboard(controls.PAUSE_DAYS, lang)
    )


async def pause_chosen(
    query: CallbackQuery,
    callback_data: PauseCb,
    patient: Patient,
    db: AsyncSession,
    clock: Clock,
    settings: Settings,
) -> None:
    lang = patient.language
    try:
        until = await controls.pause(db, patient, days=callback_data.days, now=clock.now())
    except controls.ControlError as exc:
        await _refuse(query, str(exc), lang, settings)
        return
    log.info("patient %s paused for %s days", patient.id, callback_data.days)
    await query.answer()
    style = Style(
        patient_locale(lang, settings.clinic_locale),
        patient_tz(patient, settings.clinic_timezone),
    )
    if isinstance(query.message, Message):
        await close_with_choice(query.message, plural("n_days", lang, callback_data.days))
        await query.message.answer(t("paused", lang, until=style.when(until)))


async def resume_command(
    message: Message,
    patient: Patient,
    db: AsyncSession,
    clock: Clock,
    settings: Settings,
    protocol: Protocol,
) -> None:
    try:
        await controls.resume(
            db, protocol, patient, default_tz=settings.clinic_timezone, now=clock.now()
        )
    except controls.ControlError as exc:
        await _refuse(message, str(exc), patient.language, settings)
        return
    await message.answer(t("resumed", patient.language))


async def stop_command(message: Message, patient: Patient, settings: Settings) -> None:
    lang = patient.language
    if patient.status not in FOLLOWED:
        await _refuse(message, "patient_inactive", lang, settings)
        return
    await message.answer(t("stop_ask", lang), reply_markup=stop_keyboard(lang))


async def stop_chosen(
    query: CallbackQuery,
    callback_data: StopCb,
    patient: Patient,
    db: AsyncSession,
    clock: Clock,
    settings: Settings,
) -> None:
    lang = patient.language
    if not callback_data.confirm:
        await query.answer()
        if isinstance(query.message, Message):
            await close_with_choice(query.message, t("btn_stop_no", lang))
            await query.message.answer(t("stop_kept", lang))
        return
    try:
        await controls.stop(db, patient, text_version=CONSENT_VERSION, now=clock.now())
    except controls.ControlError as exc:
        await _refuse(query, str(exc), lang, settings)
        return
    log.info("patient %s stopped the follow-up", patient.id)
    await query.answer()
    if isinstance(query.message, Message):
        await close_with_choice(query.message, t("btn_stop_yes", lang))
        await query.message.answer(t("stopped", lang))


async def settings_command(message: Message, patient: Patient, settings: Settings) -> None:
    lang = patient.language
    if patient.status not in FOLLOWED:
        await _refuse(message, "patient_inactive", lang, settings)
        return
    await message.answer(
        settings_text(patient, settings.clinic_timezone), reply_markup=settings_keyboard(lang)
    )


async def settings_time(query: CallbackQuery, patient: Patient, state: FSMContext) -> None:
    """Change the reminder time: a few choices as buttons, or a time typed."""
    if isinstance(query.message, Message):
        await state.set_state(SettingsInput.time)
        asked = await query.message.answer(
            t("settings_time_ask", patient.language), reply_markup=reminder_time_keyboard()
        )
        await state.update_data(time_keyboard=asked.message_id)  # to retire it if typed
    await query.answer()


async def settings_timezone(
    query: CallbackQuery, patient: Patient, state: FSMContext, settings: Settings, clock: Clock
) -> None:
    """Change the time zone: buttons with the clinic's zone and the other zones of its
    country (and the patient's own, if elsewhere), or a city typed (flows.timezones)."""
    if isinstance(query.message, Message):
        now = clock.now()
        zones = neighbours(settings.clinic_timezone.key, now=now)
        if patient.timezone and patient.timezone not in zones:
            zones = (*zones, patient.timezone)
        await state.set_state(SettingsInput.tz)
        ask = await query.message.answer(
            t("settings_tz_ask", patient.language),
            reply_markup=timezone_keyboard(zones, patient.language, now),
        )
        await state.update_data(tz_asks=[ask.message_id])
    await query.answer()


async def _retire_zone_keyboards(bot: Bot | None, chat_id: int, asks: object) -> None:
    """Once a time zone is saved, the other messages offering zones (the first offer, a
    "which one?") lose their buttons: no longer a question."""
    if bot is None or not isinstance(asks, list):
        return
    for message_id in asks:
        if not isinstance(message_id, int):
            continue
        try:
            await bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=message_id, reply_markup=None
            )
        except TelegramBadRequest:  # already without buttons, deleted, or too old to edit
            pass


async def timezone_chosen(
    query: CallbackQuery,
    callback_data: TimezoneCb,
    patient: Patient,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
    settings: Settings,
    state: FSMContext,
) -> None:
    """A time zone button (offered, or one of several matches of a typed city); a forged
    zone is refused by care.controls and changes nothing."""
    asks = (await state.get_data()).get("tz_asks")
    if await _apply(
        query, patient, db, protocol, clock, settings, state, timezone=callback_data.zone
    ):
        await query.answer(t("settings_saved", patient.language))
        if isinstance(query.message, Message):
            label = zone_label(callback_data.zone, patient.language, clock.now())
            await close_with_choice(query.message, label)
            others = (
                [i for i in asks if i != query.message.message_id] if isinstance(asks, list) else []
            )
            await _retire_zone_keyboards(query.bot, query.message.chat.id, others)
            await query.message.answer(settings_text(patient, settings.clinic_timezone))


async def settings_language(query: CallbackQuery, patient: Patient) -> None:
    """Change the language: the same buttons as /language."""
    if isinstance(query.message, Message):
        await _ask_language(query.message, patient.language)
    await query.answer()


async def _apply(
    target: Message | CallbackQuery,
    patient: Patient,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
    settings: Settings,
    state: FSMContext,
    **change: str,
) -> bool:
    try:
        await controls.change_settings(
            db, protocol, patient, default_tz=settings.clinic_timezone, now=clock.now(), **change
        )
    except controls.ControlError as exc:
        await _refuse(target, str(exc), patient.language, settings)
        return False
    await state.clear()
    return True


async def reminder_time_chosen(
    query: CallbackQuery,
    callback_data: ReminderTimeCb,
    patient: Patient,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
    settings: Settings,
    state: FSMContext,
) -> None:
    raw = callback_data.hhmm
    hhmm = f"{raw[:2]}:{raw[2:]}" if len(raw) == 4 else raw
    if hhmm not in REMINDER_CHOICES:
        await query.answer(t("button_expired", patient.language), show_alert=True)
        return
    if await _apply(query, patient, db, protocol, clock, settings, state, reminder_time=hhmm):
        await query.answer(t("settings_saved", patient.language))
        if isinstance(query.message, Message):
            await close_with_choice(query.message, hhmm)
            await query.message.answer(settings_text(patient, settings.clinic_timezone))


async def setting_typed(
    message: Message,
    bot: Bot,
    patient: Patient,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
    settings: Settings,
    state: FSMContext,
) -> None:
    """A typed reminder time or time zone, whichever the patient was asked for."""
    if await state.get_state() == SettingsInput.tz.state:
        await _timezone_typed(message, patient, db, protocol, clock, settings, state)
        return
    keyboard_id = (await state.get_data()).get("time_keyboard")
    if await _apply(
        message, patient, db, protocol, clock, settings, state, reminder_time=message.text or ""
    ):
        if isinstance(keyboard_id, int):
            # the time buttons' question is answered: they go, the typed time shows instead
            asked = t("settings_time_ask", patient.language)
            with contextlib.suppress(TelegramBadRequest):
                await bot.edit_message_text(
                    f"{asked}\n✓ <b>{html.quote(patient.reminder_time)}</b>",
                    chat_id=message.chat.id,
                    message_id=keyboard_id,
                )
        await message.answer(settings_text(patient, settings.clinic_timezone))


async def _timezone_typed(
    message: Message,
    patient: Patient,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
    settings: Settings,
    state: FSMContext,
) -> None:
    """An IANA name or a city or country ("Madrid", "ciudad de mexico", "España"): one
    match is saved, several are offered as buttons, none gets a clear answer and changes
    nothing (the patient may type again)."""
    typed, lang, now = (message.text or "").strip(), patient.language, clock.now()
    try:  # an IANA name, even one no city names ("Etc/GMT-3")
        zones: tuple[str, ...] = (controls.parse_timezone(typed),)
    except controls.ControlError:
        zones = find_zones(typed[:100], now=now)
    if len(zones) > 1:
        pick = await message.answer(
            t("settings_tz_pick", lang, typed=typed[:100]),
            reply_markup=timezone_keyboard(zones, lang, now),
        )
        asks = (await state.get_data()).get("tz_asks")
        await state.update_data(
            tz_asks=[*(asks if isinstance(asks, list) else []), pick.message_id]
        )
        return
    if not zones:
        await message.answer(t("settings_tz_unknown", lang, typed=typed[:100]))
        return
    asks = (await state.get_data()).get("tz_asks")
    if await _apply(message, patient, db, protocol, clock, settings, state, timezone=zones[0]):
        await _retire_zone_keyboards(message.bot, message.chat.id, asks)
        await message.answer(settings_text(patient, settings.clinic_timezone))


async def _ask_language(message: Message, lang: str) -> None:
    await message.answer(t("language_ask", lang), reply_markup=language_keyboard())


async def language_command(message: Message, patient: Patient, settings: Settings) -> None:
    if patient.status not in FOLLOWED:
        await _refuse(message, "patient_inactive", patient.language, settings)
        return
    await _ask_language(message, patient.language)


async def language_chosen(
    query: CallbackQuery,
    callback_data: LanguageCb,
    patient: Patient,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
    settings: Settings,
    state: FSMContext,
) -> None:
    if callback_data.lang not in LANGUAGES:
        await query.answer(t("button_expired", patient.language), show_alert=True)
        return
    if await _apply(
        query, patient, db, protocol, clock, settings, state, language=callback_data.lang
    ):
        lang = callback_data.lang
        await query.answer()
        if query.bot is not None:
            await set_commands_for(query.bot, query.from_user.id, "patient", lang)
        if isinstance(query.message, Message):
            await close_with_choice(query.message, LANGUAGE_NAMES[lang])
            await query.message.answer(t("language_set", lang))


async def symptom_command(
    message: Message,
    patient: Patient,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
    settings: Settings,
    bot: Bot,
) -> None:
    """/symptom: the red-flag questions now, whatever else is open or paused."""
    await _ask_symptom_questions(bot, message.chat.id, patient, db, protocol, clock, settings)


async def symptom_tapped(
    query: CallbackQuery,
    patient: Patient,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
    settings: Settings,
    bot: Bot,
) -> None:
    """The "Report a new symptom" button (closed check-ins, the reply to typed words)."""
    await query.answer()
    await _ask_symptom_questions(bot, query.from_user.id, patient, db, protocol, clock, settings)


async def _ask_symptom_questions(
    bot: Bot,
    chat_id: int,
    patient: Patient,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
    settings: Settings,
) -> None:
    """Open the on-demand check-in and send its first question as a new message; its taps
    are ordinary answers (bot/routers/checkin.py). Never refused to a patient in follow-up:
    without the check-in (a clinic's protocol may lack one) they get the clinic's number."""
    lang = patient.language
    if patient.status not in REPORTING_STATUSES:
        await bot.send_message(
            chat_id, t("patient_inactive", lang, clinic=clinic_of(settings.clinic_name, lang))
        )
        return
    ready = await open_symptom_report(
        db, protocol, patient=patient, default_tz=settings.clinic_timezone, now=clock.now()
    )
    if ready is None:
        await bot.send_message(
            chat_id,
            t(
                "symptom_unavailable",
                lang,
                phone=settings.clinic_phone,
                emergency=settings.emergency_number,
            ),
        )
        return
    assert ready.checkin.id is not None
    log.info("patient %s opened a symptom report: check-in %s", patient.id, ready.checkin.id)
    sent = await bot.send_message(
        chat_id,
        checkin_text(protocol, ready.definition, ready.context, {}, ready.ref, lang),
        reply_markup=question_keyboard(protocol, ready.checkin.id, ready.ref, lang),
    )
    await mark_symptom_sent(db, checkin_id=ready.checkin.id, message_id=sent.message_id)


def make_router() -> Router:
    """A fresh router (one per dispatcher: aiogram routers attach to one parent)."""
    router = Router(name="patient")
    router.message.filter(IsPatient())
    router.callback_query.filter(IsPatient())
    router.message.register(symptom_command, Command("symptom"))
    router.callback_query.register(
        symptom_tapped, SymptomCb.filter(F.action == SymptomAction.start)
    )
    router.message.register(pause_command, Command("pause"))
    router.callback_query.register(pause_chosen, PauseCb.filter())
    router.message.register(resume_command, Command("resume"))
    router.message.register(stop_command, Command("stop"))
    router.callback_query.register(stop_chosen, StopCb.filter())
    router.message.register(settings_command, Command("settings"))
    router.callback_query.register(settings_time, SettingsCb.filter(F.field == SettingsField.time))
    router.callback_query.register(
        settings_timezone, SettingsCb.filter(F.field == SettingsField.tz)
    )
    router.callback_query.register(
        settings_language, SettingsCb.filter(F.field == SettingsField.lang)
    )
    router.callback_query.register(reminder_time_chosen, ReminderTimeCb.filter())
    router.callback_query.register(timezone_chosen, TimezoneCb.filter())
    router.message.register(
        setting_typed,
        StateFilter(SettingsInput.time, SettingsInput.tz),
        F.text,
        ~F.text.startswith("/"),
    )
    router.message.register(language_command, Command("language"))
    router.callback_query.register(language_chosen, LanguageCb.filter())
    return router
