"""The patient's consent decision and language (buttons under the consent text)."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import ConsentCb, ConsentLangCb
from bot.commands import set_commands_for
from bot.config import Settings
from bot.controls_view import consent_keyboard, consent_text
from bot.filters import IsPatient
from bot.identity import Actor
from bot.replies import close_with_choice
from bot.safety_view import promises_text
from bot.texts import CONSENT_VERSION, LANGUAGES, t
from care.enrollment import ConsentOutcome, choose_consent_language, decide_consent
from flows.protocol import Protocol
from scheduler.clock import Clock
from store.models import Patient, PatientStatus, StaffMember

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
        await _refuse(query, callback_data.patient_id, patient.language)
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


async def consent_language(
    query: CallbackQuery,
    callback_data: ConsentLangCb,
    patient: Patient,
    db: AsyncSession,
    settings: Settings,
    clock: Clock,
    protocol: Protocol,
) -> None:
    """A language button under the consent text: the choice is stored and the consent is
    shown again in it, with the same buttons. The phone's language only chose the first
    showing (bot/routers/start.py)."""
    if patient.id != callback_data.patient_id:  # another patient's buttons
        await _refuse(query, callback_data.patient_id, patient.language)
        return
    lang = callback_data.lang
    if lang not in LANGUAGES or lang not in protocol.info.languages:
        await query.answer(t("button_expired", patient.language), show_alert=True)
        return
    if lang == patient.language and patient.status == PatientStatus.INVITED:
        await query.answer()  # the language already shown: nothing to do
        return
    if not await choose_consent_language(
        db, protocol, patient=patient, language=lang, now=clock.now()
    ):
        await query.answer(t("consent_not_pending", patient.language))
        return
    log.info("consent language chosen patient_id=%s", patient.id)
    await query.answer()
    if isinstance(query.message, Message):
        therapist = await db.get(StaffMember, patient.therapist_id)
        await query.message.edit_text(
            consent_text(
                lang,
                clinic=settings.clinic_name,
                therapist=therapist.name if therapist else "",
                emergency=settings.emergency_number,
            ),
            reply_markup=consent_keyboard(patient.id, lang),
        )


def _asks_consent(message: Message) -> bool:
    """Whether the message's buttons are consent buttons (not a forged tap's host)."""
    markup = message.reply_markup
    return markup is not None and any(
        (button.callback_data or "").startswith(ConsentCb.__prefix__ + ConsentCb.__separator__)
        for row in markup.inline_keyboard
        for button in row
    )


async def consent_refused(
    query: CallbackQuery, callback_data: ConsentCb | ConsentLangCb, actor: Actor
) -> None:
    """Consent buttons tapped by anyone but a patient (staff, a stranger), or by another
    patient than the one they ask: refused, nothing changes."""
    await _refuse(query, callback_data.patient_id, actor.lang)


async def _refuse(query: CallbackQuery, patient_id: int, lang: str) -> None:
    log.info("consent refused: user %s is not patient %s", query.from_user.id, patient_id)
    await query.answer(t("not_allowed", lang), show_alert=True)


def make_router() -> Router:
    """A fresh router (one per dispatcher: aiogram routers attach to one parent)."""
    router = Router(name="consent")
    router.callback_query.register(consent_decision, ConsentCb.filter(), IsPatient())
    router.callback_query.register(consent_language, ConsentLangCb.filter(), IsPatient())
    router.callback_query.register(consent_refused, ConsentCb.filter())
    router.callback_query.register(consent_refused, ConsentLangCb.filter())
    return router
