"""Router-level filters: a handler only sees people of its role, and receives them.

A filter that passes returns the person's record, which aiogram adds to the handler's
data (aiogram's `examples/context_addition_from_filter.py`): a handler behind
`IsPatient()` takes `patient: Patient`, one behind `HasRole(...)` takes
`staff: StaffMember`, by name — the role is checked once, here, never again inside.
"""

from __future__ import annotations

from typing import Any, Literal

from aiogram import F
from aiogram.enums import ChatType
from aiogram.filters import Filter
from aiogram.types import TelegramObject

from bot.identity import Actor
from store.models import Patient, Role, StaffMember


class HasRole(Filter):
    """Passes when the sender is active staff with one of `roles`; hands on `staff`."""

    def __init__(self, *roles: Role) -> None:
        self.roles = roles

    async def __call__(
        self, event: TelegramObject, actor: Actor | None = None, **_: Any
    ) -> Literal[False] | dict[str, StaffMember]:
        if actor is None or actor.staff is None or not actor.has_role(*self.roles):
            return False
        return {"staff": actor.staff}


class IsPatient(Filter):
    """Passes when the sender is a patient record's Telegram account; hands on `patient`."""

    async def __call__(
        self, event: TelegramObject, actor: Actor | None = None, **_: Any
    ) -> Literal[False] | dict[str, Patient]:
        if actor is None or actor.staff is not None or actor.patient is None:
            return False
        return {"patient": actor.patient}


# Invariant 10: the chat a message was written in, or the chat of the message a button is
# on. Private chats only, but for an alert card's buttons in a group (bot/routers/group.py).
IN_PRIVATE_CHAT = F.chat.type == ChatType.PRIVATE
ON_PRIVATE_MESSAGE = F.message.chat.type == ChatType.PRIVATE
ON_GROUP_MESSAGE = F.message.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP})
