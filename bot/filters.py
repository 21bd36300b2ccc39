"""Router-level filters: a handler only sees people of its role."""

from __future__ import annotations

from typing import Any

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
