"""Patients' data rights (/mydata, /delete, passing their words and media on), staff /discharge,
admin /audit."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.enums import ContentType
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import (
    DeleteCb,
    DischargeAction,
    DischargeCb,
    DischargeConfirmCb,
    NoteCb,
    PageCb,
    PatientList,
)
from bot.commands import set_commands_for
from bot.config import Settings
from bot.controls_view import delete_keyboard, note_keyboard
from bot.desk_view import desk_matches, desk_page, discharge_confirmation
from bot.filters import HasRole, IsPatient
from bot.formatting import staff_style
from bot.identity import Actor
from bot.replies import close_with_choice, turn_page
from bot.staff_view import audit_text
from bot.texts import safety_line, t
from bot.typed import strip_control
from care import audit, records
from care.alerts import AlertPolicy
from care.sessions import FOLLOWED, followed_patients
from flows.protocol import Protocol
from scheduler.clock import Clock
from store.models import Patient, Role, StaffMember

log = logging.getLogger(__name__)


async def mydata_command(
    message: Message, patient: Patient, db: AsyncSession, clock: Clock, protocol: Protocol
) -> None:
    data = await records.my_data(db, protocol, patient, now=clock.now())
    await message.answer_document(
        BufferedInputFile(data, filename=f"careloop-my-data-{patient.id}.json"),
        caption=t("mydata_caption", patient.language),
    )


async def delete_command(message: Message, patient: Patient) -> None:
    lang = patient.language
    await message.answer(t("delete_ask", lang), reply_markup=delete_keyboard(lang))


async def delete_chosen(
    query: CallbackQuery,
    callback_data: DeleteCb,
    patient: Patient,
    db: AsyncSession,
    clock: Clock,
) -> None:
    lang = patient.language
    if not isinstance(query.message, Message):
        await query.answer()
        return
    if not callback_data.confirm:
        await query.answer()
        await close_with_choice(query.message, t("btn_delete_no", lang))
        await query.message.answer(t("delete_kept", lang))
        return
    patient_id = patient.id
    if not await records.erase_person(db, patient, now=clock.now()):  # a second copy: late tap
        await query.answer(t("button_expired", lang), show_alert=True)
        return
    log.info("patient %s erased their data", patient_id)
    await query.answer()
    await close_with_choice(query.message, t("btn_delete_yes", lang))
    await query.message.answer(t("deleted", lang))
    if query.bot is not None:
        await set_commands_for(query.bot, query.from_user.id, None, lang)


#: What a patient may send besides text; each is kept (by message id) like typed words.
MEDIA_KINDS = ("photo", "voice", "video_note", "video", "document", "sticker", "audio", "animation")


async def free_text(
    message: Message, patient: Patient, db: AsyncSession, clock: Clock, settings: Settings
) -> None:
    """Typed words are never dropped: the safety line, and one tap to pass them on."""
    note_id = await records.keep_note(db, patient, message.text or "", now=clock.now())
    await _note_reply(message, patient.language, note_id, settings)


async def media_message(
    message: Message, patient: Patient, db: AsyncSession, clock: Clock, settings: Settings
) -> None:
    """A photo of a red needle site, a voice note, a sticker …: treated like typed words.
    Only the message's id is kept (and its caption); passing it copies it to the therapist."""
    kind = ContentType(message.content_type).value
    note_id = await records.keep_note(
        db,
        patient,
        message.caption or "",
        now=clock.now(),
        media_message_id=message.message_id,
        media_kind=kind,
    )
    log.info("patient %s sent a %s", patient.id, kind)
    await _note_reply(message, patient.language, note_id, settings)


async def _note_reply(message: Message, lang: str, note_id: int, settings: Settings) -> None:
    """The safety line, one tap to pass this message on, one to report a new symptom."""
    await message.answer(
        safety_line(lang, settings.emergency_number, settings.clinic_phone),
        reply_markup=note_keyboard(note_id, lang),
    )


async def pass_note(
    query: CallbackQuery,
    callback_data: NoteCb,
    patient: Patient,
    db: AsyncSession,
    clock: Clock,
    policy: AlertPolicy,
) -> None:
    lang = patient.language
    passed = await records.pass_note(
        db, policy, patient, note_id=callback_data.note_id, now=clock.now()
    )
    if not passed:
        await query.answer(t("note_already", lang), show_alert=True)
        return
    log.info("patient %s passed a message to their therapist", patient.id)
    await query.answer()
    if isinstance(query.message, Message):
        await close_with_choice(query.message, t("note_passed", lang))


class Discharge(StatesGroup):
    """/discharge's picker is shown: a typed word searches the names."""

    pick = State()


def _discharge_button(patient_id: int) -> DischargeCb:
    return DischargeCb(patient_id=patient_id)


async def discharge_command(
    message: Message, actor: Actor, db: AsyncSession, state: FSMContext
) -> None:
    """Every patient in follow-up, a page at a time; or type part of a name."""
    await state.clear()
    patients = await followed_patients(db)
    if not patients:
        await message.answer(t("session_no_patients", actor.lang))
        return
    await state.set_state(Discharge.pick)
    text, markup = desk_page(
        patients, 0, PatientList.discharge, _discharge_button, "discharge_pick", actor.lang
    )
    await message.answer(text, reply_markup=markup)


async def discharge_page(
    query: CallbackQuery, callback_data: PageCb, actor: Actor, db: AsyncSession
) -> None:
    patients = await followed_patients(db)
    text, markup = desk_page(
        patients,
        callback_data.page,
        PatientList.discharge,
        _discharge_button,
        "discharge_pick",
        actor.lang,
    )
    await turn_page(query, text, markup)


async def discharge_search(message: Message, actor: Actor, db: AsyncSession) -> None:
    """Part of a name typed at the picker: the patients whose name holds it."""
    typed = strip_control(message.text or "").strip()[:64]
    text, markup = desk_matches(await followed_patients(db), typed, _discharge_button, actor.lang)
    await message.answer(text, reply_markup=markup)


async def discharge_chosen(
    query: CallbackQuery,
    callback_data: DischargeCb,
    staff: StaffMember,
    db: AsyncSession,
    settings: Settings,
) -> None:
    """A name tapped: ask to confirm, saying what is still open. Nothing changes yet."""
    try:
        seen = await records.still_open(db, patient_id=callback_data.patient_id)
    except records.RecordError as exc:
        await query.answer(t(str(exc), staff.language), show_alert=True)
        return
    await query.answer()
    style = staff_style(settings.clinic_locale, settings.clinic_timezone)
    text, markup = discharge_confirmation(seen, style)
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=markup)


async def discharge_confirmed(
    query: CallbackQuery,
    callback_data: DischargeConfirmCb,
    staff: StaffMember,
    db: AsyncSession,
    clock: Clock,
    state: FSMContext,
) -> None:
    """ "Yes, discharge": once (a second copy of the tap, or an old confirmation, is told
    the patient is already discharged and changes nothing)."""
    try:
        patient = await records.discharge(
            db, patient_id=callback_data.patient_id, staff=staff, now=clock.now()
        )
    except records.RecordError as exc:
        await query.answer(t(str(exc), staff.language), show_alert=True)
        return
    log.info("patient %s discharged by staff %s", patient.id, staff.id)
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        name = patient.display_name or "—"
        await close_with_choice(query.message, t("btn_discharge_yes", staff.language))
        await query.message.answer(t("discharge_done", staff.language, name=name))


async def discharge_kept(
    query: CallbackQuery, callback_data: DischargeConfirmCb, staff: StaffMember, db: AsyncSession
) -> None:
    patient = await db.get(Patient, callback_data.patient_id)
    await query.answer()
    if isinstance(query.message, Message) and patient is not None:
        await close_with_choice(query.message, t("btn_discharge_no", staff.language))
        await query.message.answer(
            t("discharge_kept", staff.language, name=patient.display_name or "—")
        )


async def audit_command(message: Message, db: AsyncSession, settings: Settings) -> None:
    """The last 30 audit events: who did what to what, when (ids only)."""
    events = await audit.events(db, limit=30)
    style = staff_style(settings.clinic_locale, settings.clinic_timezone)
    await message.answer(audit_text(events, style))


def _in_follow_up(_message: Message, patient: Patient) -> bool:
    """Behind IsPatient: the patient it handed on is followed up (active or paused)."""
    return patient.status in FOLLOWED


def make_router() -> Router:
    """A fresh router (one per dispatcher: aiogram routers attach to one parent)."""
    router = Router(name="records")
    patient = Router(name="records-patient")
    patient.message.filter(IsPatient())
    patient.callback_query.filter(IsPatient())
    patient.message.register(mydata_command, Command("mydata"))
    patient.message.register(delete_command, Command("delete"))
    patient.callback_query.register(delete_chosen, DeleteCb.filter())
    patient.callback_query.register(pass_note, NoteCb.filter())
    patient.message.register(free_text, F.text, ~F.text.startswith("/"), _in_follow_up)
    patient.message.register(media_message, F.content_type.in_(MEDIA_KINDS), _in_follow_up)
    desk = Router(name="records-desk")
    desk.message.filter(HasRole(Role.STAFF, Role.ADMIN))
    desk.callback_query.filter(HasRole(Role.STAFF, Role.ADMIN))
    desk.message.register(discharge_command, Command("discharge"))
    desk.callback_query.register(discharge_page, PageCb.filter(F.what == PatientList.discharge))
    desk.message.register(discharge_search, Discharge.pick, F.text, ~F.text.startswith("/"))
    desk.callback_query.register(discharge_chosen, DischargeCb.filter())
    desk.callback_query.register(
        discharge_confirmed, DischargeConfirmCb.filter(F.action == DischargeAction.confirm)
    )
    desk.callback_query.register(
        discharge_kept, DischargeConfirmCb.filter(F.action == DischargeAction.keep)
    )
    admin = Router(name="records-admin")
    admin.message.filter(HasRole(Role.ADMIN))
    admin.message.register(audit_command, Command("audit"))
    router.include_routers(patient, desk, admin)
    return router
