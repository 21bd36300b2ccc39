"""Admins invite staff and therapists with one-time links."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import InviteRoleCb
from bot.config import Settings
from bot.filters import HasRole
from bot.identity import Actor
from bot.links import deep_link
from bot.staff_view import invite_keyboard
from bot.texts import t
from care.people import INVITABLE_ROLES, create_invite
from scheduler.clock import Clock
from store.models import Role, StaffMember

log = logging.getLogger(__name__)


async def invite(message: Message, actor: Actor) -> None:
    await message.answer(
        t("invite_choose_role", actor.lang), reply_markup=invite_keyboard(actor.lang)
    )


async def invite_role_chosen(
    query: CallbackQuery,
    callback_data: InviteRoleCb,
    staff: StaffMember,
    db: AsyncSession,
    settings: Settings,
    clock: Clock,
    bot_username: str,
) -> None:
    role = callback_data.role
    token = await create_invite(
        db, admin=staff, role=role, now=clock.now(), ttl=settings.invite_ttl
    )
    log.info("invite created by staff_id=%s role=%s", staff.id, role)
    await query.answer()
    text = t(
        "invite_link",
        staff.language,
        role=t(f"role_{role}", staff.language),
        hours=round(settings.invite_ttl.total_seconds() / 3600),
        link=deep_link(bot_username, token),
    )
    if isinstance(query.message, Message):
        await query.message.edit_text(text)
    else:
        await query.bot.send_message(staff.tg_user_id, text)  # type: ignore[union-attr]


def make_router() -> Router:
    """A fresh router (one per dispatcher: aiogram routers attach to one parent)."""
    router = Router(name="admin")
    router.message.filter(HasRole(Role.ADMIN))
    router.callback_query.filter(HasRole(Role.ADMIN))
    router.message.register(invite, Command("invite"))
    # "inv:admin" parses but has no handler: an admin is never invited (ADMIN_IDS)
    router.callback_query.register(
        invite_role_chosen, InviteRoleCb.filter(F.role.in_(INVITABLE_ROLES))
    )
    return router
