"""The patient's consent decision (buttons under the consent text)."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import ConsentCb
from bot.commands import set_commands_for
from bot.config import Settings
from bot.filters import IsPatient
from bot.identity import Actor
from bot.replies import close_with_choice
from bot.safety_view import promises_text
from bot.texts import CONSENT_VERSION, t
from care.enrollment import ConsentOutcome, decide_consent
from flows.protocol import Protocol
from scheduler.clock import Clock
from store.models import Patient

log = logging.getLogger(__name__)


async def consent_decision(
    query: CallbackQuery,
    callback_data: ConsentCb,
    patient: Patient,
    db: AsyncSession,
    settings: Settings,
    clock: Clock,
    bot: Bot,
    protocol: Protocol,
) -> None:
    """Only the account bound to this patient may decide; anything else changes nothing."""
    if patient.id != callback_data.patient_id:  # another patient's buttons
        await _refuse(query, callback_data, patient.language)
        return
    outcome = await decide_consent(
        db,
        protocol,
        patient=patient,
        agree=callback_data.agree,
        text_version=CONSENT_VERSION,
        default_tz=settings.clinic_timezone,
        now=clock.now(),
    )
    lang = patient.language
    if outcome == ConsentOutcome.NOT_PENDING:
        await query.answer(t("consent_not_pending", lang))
        # decided already (a second consent message, a double tap): its question is closed
        message = query.message
        if isinstance(message, Message) and _asks_consent(message):
            with contextlib.suppress(TelegramBadRequest):
                await message.edit_reply_markup(reply_markup=None)
        return
    log.info("consent %s patient_id=%s", outcome, patient.id)
    await query.answer()
    reply = (
        t("consent_agreed", lang) + "\n\n" + promises_text(protocol, settings, lang, line=False)
        if outcome == ConsentOutcome.AGREED
        else t("consent_declined", lang)
    )
    if isinstance(query.message, Message):
        await close_with_choice(
            query.message, t("btn_agree" if callback_data.agree else "btn_decline", lang)
        )
        await query.message.answer(reply)
    if outcome == ConsentOutcome.AGREED:
        await set_commands_for(bot, query.from_user.id, "patient", lang)


def _asks_consent(message: Message) -> bool:
    """Whether the message's buttons are consent buttons (not a forged tap's host)."""
    markup = message.reply_markup
    return markup is not None and any(
        (button.callback_data or "").startswith(ConsentCb.__prefix__ + ConsentCb.__separator__)
        for row in markup.inline_keyboard
        for button in row
    )


async def consent_refused(query: CallbackQuery, callback_data: ConsentCb, actor: Actor) -> None:
    """Consent buttons tapped by anyone but a patient (staff, a stranger), or by another
    patient than the one they ask: refused, nothing changes."""
    await _refuse(query, callback_data, actor.lang)


async def _refuse(query: CallbackQuery, callback_data: ConsentCb, lang: str) -> None:
    log.info(
        "consent refused: user %s is not patient %s", query.from_user.id, callback_data.patient_id
    )
    await query.answer(t("not_allowed", lang), show_alert=True)


def make_router() -> Router:
    """A fresh router (one per dispatcher: aiogram routers attach to one parent)."""
    router = Router(name="consent")
    router.callback_query.register(consent_decision, ConsentCb.filter(), IsPatient())
    router.callback_query.register(consent_refused, ConsentCb.filter())
    return router
