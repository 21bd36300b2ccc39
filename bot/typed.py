"""Words people type, checked at the edge before any handler stores them.

C0 control characters (U+0000–U+001F) other than tab, line feed and carriage return are
never part of a name, a note, a time or an answer; a NUL is refused by PostgreSQL's text
type, so a message carrying one used to fail with no reply (and left an enrollment
unfinished). Such a message is refused with a clear reply and nothing is stored; the
person types it again. Names Telegram gives us (a new staff member's profile name) cannot
be retyped here, so they are stripped instead.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject

from bot.config import Settings
from bot.identity import Actor
from bot.texts import safety_line, t

# C0 without \t \n \r: the whitespace a keyboard really sends.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def has_control(text: str | None) -> bool:
    return text is not None and CONTROL.search(text) is not None


def strip_control(text: str) -> str:
    return CONTROL.sub("", text)


class ControlCharsMiddleware(BaseMiddleware):
    """Refuse a typed text or caption with control characters, before its handler runs.

    Registered on the private-chat router (bot/app.py), so a group message is still
    ignored rather than answered. A patient's refusal carries the safety line: whatever
    they meant to say, they see the emergency number."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Message) or not (
            has_control(event.text) or has_control(event.caption)
        ):
            return await handler(event, data)
        actor: Actor = data["actor"]
        settings: Settings = data["settings"]
        text = t("control_chars", actor.lang)
        if actor.role == "patient":
            text += "\n\n" + safety_line(
                actor.lang, settings.emergency_number, settings.clinic_phone
            )
        await event.answer(text)
        return None
