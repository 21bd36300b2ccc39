"""Staff leave (issue 11): admins list staff (/staff) and deactivate someone; therapists
and admins move a patient to another therapist (/reassign).

Who may do what is decided in `care.staff` (one copy of the rules), on every tap: a
forged button from someone else changes nothing. Buttons carry ids only.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import ReassignAction, ReassignCb, StaffAction, StaffCb
from bot.commands import set_commands_for
from bot.config import Settings
from bot.filters import HasRole
from bot.identity import Actor
from bot.replies import close_with_choice
from bot.routers.records import patient_picker
from bot.texts import t
from care import staff as care_staff
from care.alerts import AlertPolicy
from scheduler.clock import Clock
from store.models import Patient, Role, StaffMember

log = logging.getLogger(__name__)


def _when(moment: datetime | None, tz: ZoneInfo, lang: str) -> str:
    return t("staff_never", lang) if moment is None else f"{moment.astimezone(tz):%d/%m %H:%M}"


async def staff_command(
    message: Message, actor: Actor, staff: StaffMember, db: AsyncSession, settings: Settings
) -> None:
    """Everyone with a role, their last activity, and a Deactivate button where allowed."""
    people = await care_staff.staff_list(db)
    tz, lang = settings.clinic_timezone, actor.lang
    lines = [t("staff_header", lang, count=len(people))]
    builder = InlineKeyboardBuilder()
    for person in people:
        assert person.id is not None
        state = (
            t("staff_active", lang)
            if person.active
            else t("staff_inactive", lang, when=_when(person.deactivated_at, tz, lang))
        )
        lines.append(
            t(
                "staff_line",
                lang,
                name=person.name,
                id=person.id,
                role=t(f"role_{person.role}", lang),
                state=state,
                seen=_when(person.last_seen_at, tz, lang),
            )
        )
        if person.active and person.id != staff.id and person.tg_user_id not in settings.admin_ids:
            builder.button(
                text=t("btn_deactivate", lang, name=person.name)[:60],
                callback_data=StaffCb(action=StaffAction.ask, staff_id=person.id),
            )
    builder.adjust(1)
    await message.answer("\n".join(lines)[:4000], reply_markup=builder.as_markup())


async def _refused(query: CallbackQuery, key: str, lang: str) -> None:
    await query.answer(t(key, lang), show_alert=True)


async def deactivate_ask(
    query: CallbackQuery,
    callback_data: StaffCb,
    actor: Actor,
    staff: StaffMember,
    db: AsyncSession,
    settings: Settings,
) -> None:
    """The confirmation screen: who, and what moves (open alerts, patients)."""
    try:
        seen = await care_staff.preview(
            db, admin=staff, staff_id=callback_data.staff_id, admin_ids=settings.admin_ids
        )
    except care_staff.StaffError as exc:
        await _refused(query, str(exc), actor.lang)
        return
    builder = InlineKeyboardBuilder()
    builder.button(
        text=t("btn_confirm_deactivate", actor.lang),
        callback_data=StaffCb(action=StaffAction.confirm, staff_id=callback_data.staff_id),
    )
    builder.button(
        text=t("btn_keep", actor.lang),
        callback_data=StaffCb(action=StaffAction.keep, staff_id=callback_data.staff_id),
    )
    builder.adjust(2)
    await query.answer()
    text = t(
        "staff_confirm",
        actor.lang,
        name=seen.member.name,
        role=t(f"role_{seen.member.role}", actor.lang),
        alerts=seen.open_alerts,
        patients=seen.patients,
    )
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=builder.as_markup())


async def deactivate_keep(query: CallbackQuery, actor: Actor) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await close_with_choice(query.message, t("staff_kept", actor.lang))


async def deactivate_confirm(
    query: CallbackQuery,
    callback_data: StaffCb,
    actor: Actor,
    staff: StaffMember,
    db: AsyncSession,
    settings: Settings,
    clock: Clock,
    policy: AlertPolicy,
    bot: Bot,
) -> None:
    try:
        done = await care_staff.deactivate(
            db,
            policy,
            admin=staff,
            staff_id=callback_data.staff_id,
            admin_ids=settings.admin_ids,
            now=clock.now(),
        )
    except care_staff.StaffError as exc:
        await _refused(query, str(exc), actor.lang)
        return
    log.info("staff_id=%s deactivated by staff_id=%s", done.member.id, staff.id)
    await query.answer()
    # their menu goes back to a stranger's (they keep /start and /help, which are refused)
    await set_commands_for(bot, done.member.tg_user_id, None, done.member.language)
    if not isinstance(query.message, Message):
        return
    name = done.member.name
    await close_with_choice(query.message, t("btn_confirm_deactivate", actor.lang))
    await query.message.answer(
        t("staff_deactivated", actor.lang, name=name, alerts=done.moved_alerts)
    )
    if not done.patients:
        await query.message.answer(t("staff_no_patients", actor.lang))
        return
    await query.message.answer(
        t("staff_patients", actor.lang, count=len(done.patients)),
        reply_markup=patient_picker(done.patients[:50], _pick_patient),
    )


def _pick_patient(patient_id: int) -> ReassignCb:
    return ReassignCb(action=ReassignAction.patient, patient_id=patient_id)


async def reassign_command(
    message: Message, actor: Actor, staff: StaffMember, db: AsyncSession
) -> None:
    patients = await care_staff.reassignable(db, staff)
    if not patients:
        await message.answer(t("reassign_none", actor.lang))
        return
    await message.answer(
        t("reassign_pick", actor.lang), reply_markup=patient_picker(patients, _pick_patient)
    )


async def reassign_patient(
    query: CallbackQuery,
    callback_data: ReassignCb,
    actor: Actor,
    staff: StaffMember,
    db: AsyncSession,
) -> None:
    """A patient picked: the active therapists they may move to."""
    try:
        patient = await care_staff.checked_patient(db, staff, callback_data.patient_id)
    except care_staff.StaffError as exc:
        await _refused(query, str(exc), actor.lang)
        return
    targets = await care_staff.targets_for(db, patient)
    await query.answer()
    if not isinstance(query.message, Message):
        return
    if not targets:
        await query.message.answer(t("reassign_no_targets", actor.lang))
        return
    await query.message.answer(
        t("reassign_to", actor.lang, name=patient.display_name or "—"),
        reply_markup=_therapist_keyboard(patient, targets),
    )


def _therapist_keyboard(patient: Patient, targets: list[StaffMember]) -> InlineKeyboardMarkup:
    assert patient.id is not None
    builder = InlineKeyboardBuilder()
    for person in targets:
        assert person.id is not None
        builder.button(
            text=person.name[:60],
            callback_data=ReassignCb(
                action=ReassignAction.to, patient_id=patient.id, staff_id=person.id
            ),
        )
    builder.adjust(1)
    return builder.as_markup()


async def reassign_to(
    query: CallbackQuery,
    callback_data: ReassignCb,
    actor: Actor,
    staff: StaffMember,
    db: AsyncSession,
    clock: Clock,
) -> None:
    try:
        patient, therapist = await care_staff.reassign(
            db,
            actor=staff,
            patient_id=callback_data.patient_id,
            therapist_id=callback_data.staff_id,
            now=clock.now(),
        )
    except care_staff.StaffError as exc:
        await _refused(query, str(exc), actor.lang)
        return
    log.info(
        "patient %s reassigned to staff_id=%s by staff_id=%s",
        patient.id,
        therapist.id,
        staff.id,
    )
    await query.answer()
    if isinstance(query.message, Message):
        await close_with_choice(query.message, therapist.name)
        await query.message.answer(
            t(
                "reassign_done",
                actor.lang,
                name=patient.display_name or "—",
                therapist=therapist.name,
            )
        )


def make_router() -> Router:
    """A fresh router (one per dispatcher: aiogram routers attach to one parent)."""
    router = Router(name="staff")
    admin = Router(name="staff-admin")
    admin.message.filter(HasRole(Role.ADMIN))
    admin.callback_query.filter(HasRole(Role.ADMIN))
    admin.message.register(staff_command, Command("staff"))
    admin.callback_query.register(deactivate_ask, StaffCb.filter(F.action == StaffAction.ask))
    admin.callback_query.register(
        deactivate_confirm, StaffCb.filter(F.action == StaffAction.confirm)
    )
    admin.callback_query.register(deactivate_keep, StaffCb.filter(F.action == StaffAction.keep))
    care_team = Router(name="staff-reassign")
    care_team.message.filter(HasRole(Role.THERAPIST, Role.ADMIN))
    care_team.callback_query.filter(HasRole(Role.THERAPIST, Role.ADMIN))
    care_team.message.register(reassign_command, Command("reassign"))
    care_team.callback_query.register(
        reassign_patient, ReassignCb.filter(F.action == ReassignAction.patient)
    )
    care_team.callback_query.register(reassign_to, ReassignCb.filter(F.action == ReassignAction.to))
    router.include_routers(admin, care_team)
    return router
