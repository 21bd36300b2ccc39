"""Staff leave (issue 11): admins list staff (/staff) and deactivate someone; therapists
and admins move a patient to another therapist (/reassign).

Who may do what is decided in `care.staff` (one copy of the rules), on every tap: a
forged button from someone else changes nothing. Buttons carry ids only.
"""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import ReassignAction, ReassignCb, StaffAction, StaffCb
from bot.commands import set_commands_for
from bot.config import Settings
from bot.desk_view import patient_picker
from bot.filters import HasRole
from bot.formatting import plural, staff_style
from bot.identity import Actor
from bot.replies import close_with_choice
from bot.staff_view import deactivate_confirmation, reassign_pick, reassign_targets, staff_page
from bot.texts import t
from care import staff as care_staff
from care.alerts import AlertPolicy
from scheduler.clock import Clock
from store.models import Role, StaffMember

log = logging.getLogger(__name__)


async def staff_command(
    message: Message, staff: StaffMember, db: AsyncSession, settings: Settings
) -> None:
    """Everyone with a role, their last activity, and a Deactivate button where allowed."""
    people = await care_staff.staff_list(db)
    text, keyboard = staff_page(
        people,
        admin=staff,
        admin_ids=settings.admin_ids,
        style=staff_style(settings.clinic_locale, settings.clinic_timezone),
    )
    await message.answer(text, reply_markup=keyboard)


async def _refused(query: CallbackQuery, key: str, lang: str) -> None:
    await query.answer(t(key, lang), show_alert=True)


async def deactivate_ask(
    query: CallbackQuery,
    callback_data: StaffCb,
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
        await _refused(query, str(exc), staff.language)
        return
    await query.answer()
    text, keyboard = deactivate_confirmation(seen, callback_data.staff_id, staff.language)
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=keyboard)


async def deactivate_keep(query: CallbackQuery, actor: Actor) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await close_with_choice(query.message, t("staff_kept", actor.lang))


async def deactivate_confirm(
    query: CallbackQuery,
    callback_data: StaffCb,
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
        await _refused(query, str(exc), staff.language)
        return
    log.info("staff_id=%s deactivated by staff_id=%s", done.member.id, staff.id)
    await query.answer()
    # their menu goes back to a stranger's (they keep /start and /help, which are refused)
    await set_commands_for(
        bot, done.member.tg_user_id, None, done.member.language, desk_url=settings.desk_url
    )
    if not isinstance(query.message, Message):
        return
    name = done.member.name
    await close_with_choice(query.message, t("btn_confirm_deactivate", staff.language))
    await query.message.answer(
        t(
            "staff_deactivated",
            staff.language,
            name=name,
            alerts=plural("n_open_alerts", staff.language, done.moved_alerts),
        )
    )
    if not done.patients:
        await query.message.answer(t("staff_no_patients", staff.language))
        return
    await query.message.answer(
        t("staff_patients", staff.language, count=len(done.patients)),
        reply_markup=patient_picker(done.patients[:50], reassign_pick),
    )


async def reassign_command(message: Message, staff: StaffMember, db: AsyncSession) -> None:
    patients = await care_staff.reassignable(db, staff)
    if not patients:
        await message.answer(t("reassign_none", staff.language))
        return
    await message.answer(
        t("reassign_pick", staff.language), reply_markup=patient_picker(patients, reassign_pick)
    )


async def reassign_patient(
    query: CallbackQuery,
    callback_data: ReassignCb,
    staff: StaffMember,
    db: AsyncSession,
) -> None:
    """A patient picked: the active therapists they may move to."""
    try:
        patient = await care_staff.checked_patient(db, staff, callback_data.patient_id)
    except care_staff.StaffError as exc:
        await _refused(query, str(exc), staff.language)
        return
    targets = await care_staff.targets_for(db, patient)
    await query.answer()
    if not isinstance(query.message, Message):
        return
    if not targets:
        await query.message.answer(t("reassign_no_targets", staff.language))
        return
    await query.message.answer(
        t("reassign_to", staff.language, name=patient.display_name or "—"),
        reply_markup=reassign_targets(callback_data.patient_id, targets),
    )


async def reassign_to(
    query: CallbackQuery,
    callback_data: ReassignCb,
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
        await _refused(query, str(exc), staff.language)
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
                staff.language,
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
