"""/start (with or without a link token), /help and /cancel — for everyone."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.commands import commands_of, set_commands_for
from bot.config import Settings
from bot.controls_view import consent_keyboard, consent_text
from bot.formatting import language_of
from bot.identity import Actor
from bot.safety_view import promises_text
from bot.texts import Raw, clinic_of, t
from bot.typed import strip_control
from care.enrollment import JoinOutcome, open_join_link
from care.people import InviteOutcome, find_link, redeem_invite
from care.tokens import looks_like_token
from flows.protocol import Protocol
from scheduler.clock import Clock
from store.models import Role

log = logging.getLogger(__name__)

_JOIN_REFUSALS = {
    JoinOutcome.UNKNOWN: "link_unknown",
    JoinOutcome.EXPIRED: "link_expired",
    JoinOutcome.USED: "link_used",
    JoinOutcome.OTHER_ACCOUNT: "link_other_account",
    JoinOutcome.ACCOUNT_TAKEN: "link_account_taken",
    JoinOutcome.IS_STAFF: "link_is_staff",
}
_INVITE_REFUSALS = {
    InviteOutcome.UNKNOWN: "link_unknown",
    InviteOutcome.EXPIRED: "link_expired",
    InviteOutcome.USED: "link_used",
    InviteOutcome.IS_PATIENT: "invite_is_patient",
}


async def start_with_token(
    message: Message,
    command: CommandObject,
    actor: Actor,
    db: AsyncSession,
    settings: Settings,
    clock: Clock,
    bot: Bot,
    state: FSMContext,
) -> None:
    """Open an invitation or a patient's join link."""
    await state.clear()
    token = (command.args or "").strip()
    link = await find_link(db, token) if looks_like_token(token) else None
    if link is None:
        log.info("start: unknown token from user %s", actor.tg_user_id)
        await message.answer(t("link_unknown", actor.lang))
        return
    now = clock.now()
    if link.kind == "invite":
        result = await redeem_invite(
            db,
            link,
            tg_user_id=actor.tg_user_id,
            name=strip_control(
                actor.first_name if message.from_user is None else message.from_user.full_name
            ),
            language=actor.lang,
            now=now,
        )
        if result.outcome == InviteOutcome.REGISTERED and result.member is not None:
            role = result.member.role
            log.info("staff registered staff_id=%s role=%s", result.member.id, role)
            staff_lang = language_of(settings.clinic_locale)  # staff read the clinic's
            hint = t("hint_staff" if role == Role.STAFF else "hint_therapist", staff_lang)
            await message.answer(
                t(
                    "registered",
                    staff_lang,
                    name=result.member.name,
                    role=t(f"role_{role}", staff_lang),
                    hint=Raw(hint),
                )
            )
            await set_commands_for(
                bot, actor.tg_user_id, role, staff_lang, desk_url=settings.desk_url
            )
        elif result.outcome == InviteOutcome.ALREADY_STAFF and result.member is not None:
            await message.answer(
                t("already_staff", actor.lang, role=t(f"role_{result.member.role}", actor.lang))
            )
        else:
            await message.answer(t(_INVITE_REFUSALS[result.outcome], actor.lang))
        return
    join = await open_join_link(db, link, tg_user_id=actor.tg_user_id, language=actor.lang, now=now)
    if join.outcome != JoinOutcome.ASK_CONSENT or join.patient is None:
        log.info("start: join refused (%s) for user %s", join.outcome, actor.tg_user_id)
        await message.answer(t(_JOIN_REFUSALS[join.outcome], actor.lang))
        return
    patient = join.patient
    assert patient.id is not None
    lang = patient.language
    therapist_name = join.therapist.name if join.therapist else ""
    await message.answer(
        consent_text(
            lang,
            clinic=settings.clinic_name,
            therapist=therapist_name,
            emergency=settings.emergency_number,
        ),
        reply_markup=consent_keyboard(patient.id, lang),
    )


async def start_plain(
    message: Message, actor: Actor, settings: Settings, bot: Bot, protocol: Protocol
) -> None:
    """A plain /start: staff and patients get their help; others the introduction."""
    if actor.role is None:
        await message.answer(
            t("unknown_user", actor.lang, clinic=clinic_of(settings.clinic_name, actor.lang))
        )
        return
    await set_commands_for(
        bot, actor.tg_user_id, actor.role, actor.lang, desk_url=settings.desk_url
    )
    await send_help(message, actor, settings, protocol)


async def help_command(
    message: Message, actor: Actor, settings: Settings, protocol: Protocol
) -> None:
    if actor.role is None:
        await message.answer(
            t("unknown_user", actor.lang, clinic=clinic_of(settings.clinic_name, actor.lang))
        )
        return
    await send_help(message, actor, settings, protocol)


async def send_help(message: Message, actor: Actor, settings: Settings, protocol: Protocol) -> None:
    """The person's commands; a patient also reads what the protocol promises them."""
    lines = [t("help_header", actor.lang)]
    lines += [f"/{c} — {d}" for c, d in commands_of(actor.role, actor.lang)]
    if actor.role == "patient":
        lines += ["", promises_text(protocol, settings, actor.lang, line=True)]
    await message.answer("\n".join(lines))


async def cancel(message: Message, actor: Actor, state: FSMContext) -> None:
    if await state.get_state() is None:
        await message.answer(t("nothing_to_cancel", actor.lang))
        return
    await state.clear()
    await message.answer(t("cancelled", actor.lang))


def make_router() -> Router:
    """A fresh router (one per dispatcher: aiogram routers attach to one parent)."""
    router = Router(name="start")
    router.message.register(start_with_token, CommandStart(deep_link=True))
    router.message.register(start_plain, CommandStart())
    router.message.register(help_command, Command("help"))
    router.message.register(cancel, Command("cancel"), F.chat.type == "private")
    return router
