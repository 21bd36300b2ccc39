"""The last stop: whatever no other handler took gets a clear, harmless answer."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.commands import ROLE_COMMANDS
from bot.config import Settings
from bot.identity import Actor
from bot.texts import clinic_of, safety_line, t

#: the commands only clinic staff have (not /start, /help, /cancel, nor a patient's)
STAFF_COMMANDS = (
    frozenset(c for role in ("admin", "staff", "therapist") for c in ROLE_COMMANDS[role])
    - frozenset(ROLE_COMMANDS["patient"])
    - {"start", "help", "cancel"}
)


def _staff_command(message: Message) -> bool:
    """A staff command ("/enroll", "/invite@careloop_bot …") in the message's first word."""
    words = (message.text or "").split(maxsplit=1)
    if not words or not words[0].startswith("/"):
        return False
    return words[0][1:].split("@", 1)[0].lower() in STAFF_COMMANDS


async def any_message(message: Message, actor: Actor, settings: Settings) -> None:
    """Unknown people get the introduction (or, for a staff command, where an invitation
    comes from); patients the safety line; staff a hint."""
    if actor.role is None and _staff_command(message):
        await message.answer(t("unknown_staff", actor.lang))
        return
    if actor.role is None:
        await message.answer(
            t("unknown_user", actor.lang, clinic=clinic_of(settings.clinic_name, actor.lang))
        )
        return
    if actor.role == "patient":
        await message.answer(
            t("patient_free_text", actor.lang)
            + "\n\n"
            + safety_line(actor.lang, settings.emergency_number, settings.clinic_phone)
        )
        return
    await message.answer(t("unknown_command", actor.lang))


async def any_callback(query: CallbackQuery, actor: Actor) -> None:
    """A stale, forged or foreign button: refuse without touching anything."""
    await query.answer(t("button_expired", actor.lang), show_alert=True)


def make_router() -> Router:
    """A fresh router (one per dispatcher: aiogram routers attach to one parent)."""
    router = Router(name="fallback")
    router.message.register(any_message)
    router.callback_query.register(any_callback)
    return router
