"""Router-level filters: a handler only sees people of its role."""

from __future__ import annotations

from typing import Any

from aiogram import F
from aiogram.enums import ChatType
from aiogram.filters import Filter
from aiogram.types import TelegramObject

from bot.identity import Actor
from store.models import Role


class HasRole(Filter):
    """Passes when the sender is active staff with one of `roles`."""

    def __init__(self, *roles: Role) -> None:
        self.roles = roles

    async def __call__(self, event: TelegramObject, actor: Actor | None = None, **_: Any) -> bool:
        return actor is not None and actor.has_role(*self.roles)


class IsPatient(Filter):
    """Passes when the sender is a patient record's Telegram account."""

    async def __call__(self, event: TelegramObject, actor: Actor | None = None, **_: Any) -> bool:
        return actor is not None and actor.staff is None and actor.patient is not None


# Invariant 10: the chat a message was written in, or the chat of the message a button is
# on. Private chats only, but for an alert card's buttons in a group (bot/routers/group.py).
IN_PRIVATE_CHAT = F.chat.type == ChatType.PRIVATE
ON_PRIVATE_MESSAGE = F.message.chat.type == ChatType.PRIVATE
ON_GROUP_MESSAGE = F.message.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP})
