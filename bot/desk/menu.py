"""How the desk is opened: a menu button in each desk user's private chat, and an
"Open desk" button on the alert cards sent to them. Patients never get either: the menu
button is set per chat (setChatMenuButton), never as the bot's default, and a chat that
loses its desk role gets the default menu back. Web App buttons exist only in private
chats (Telegram refuses them elsewhere), so a group's copy of a card never carries one."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import InlineKeyboardButton, MenuButtonDefault, MenuButtonWebApp, WebAppInfo
from sqlmodel import col, select

from bot.desk.auth import DESK_ROLES
from store.db import SessionFactory
from store.models import StaffMember

log = logging.getLogger(__name__)

MENU_TEXT = "Desk"
OPEN_DESK = "Open desk"


def open_desk_button(desk_url: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=OPEN_DESK, web_app=WebAppInfo(url=desk_url))


def desk_url_for_chat(chat_id: int, desk_url: str | None) -> str | None:
    """The desk's address for a card sent to `chat_id`: only a private chat (a person's
    chat id is their positive user id; groups' are negative) gets the Web App button."""
    return desk_url if chat_id > 0 else None


def has_desk(role: str | None) -> bool:
    return role in DESK_ROLES


async def set_desk_menu(bot: Bot, chat_id: int, role: str | None, desk_url: str | None) -> None:
    """The chat's menu button: the desk for a therapist or admin, the default for anyone
    else. Without a desk (no DESK_URL) nothing is touched. A failure never breaks a flow."""
    if desk_url is None:
        return
    button: MenuButtonWebApp | MenuButtonDefault = (
        MenuButtonWebApp(text=MENU_TEXT, web_app=WebAppInfo(url=desk_url))
        if has_desk(role)
        else MenuButtonDefault()
    )
    try:
        await bot.set_chat_menu_button(chat_id=chat_id, menu_button=button)
    except TelegramAPIError as exc:
        log.warning("setChatMenuButton failed for chat %s: %s", chat_id, exc.message)


async def sync_desk_menus(bot: Bot, sessions: SessionFactory, desk_url: str | None) -> None:
    """At start: every active therapist's and admin's chat gets the desk button (a desk
    configured after they registered reaches them without a /start)."""
    if desk_url is None:
        return
    async with sessions() as db:
        rows = await db.exec(
            select(StaffMember.tg_user_id, StaffMember.role).where(
                col(StaffMember.active).is_(True),
                col(StaffMember.role).in_([str(r) for r in DESK_ROLES]),
            )
        )
        people = list(rows.all())
    for tg_user_id, role in people:
        await set_desk_menu(bot, tg_user_id, role, desk_url)
