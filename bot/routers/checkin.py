"""Patients answering check-ins, one tap at a time, and their exercise-reminder buttons.

Order matters (invariant 3): the answer is committed, then the tap is acknowledged,
then the message is edited to the next question — so a rating the patient saw
accepted is in the database, and the old buttons are gone.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from aiogram import Bot, F, Router, html
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import AnswerCb, ExerciseCb, MultiAction, MultiCb
from bot.checkin_view import checkin_text, question_keyboard
from bot.config import Settings
from bot.filters import IsPatient
from bot.identity import Actor
from bot.texts import t
from care.alerts import AlertPolicy
from care.checkins import AnswerStatus, record_answer
from care.multi_answers import (
    DraftStatus,
    answered_value,
    clear_draft,
    draft_mask,
    toggle_draft,
)
from care.planning import KIND_EXERCISE, cancel_pending
from flows.protocol import Protocol
from flows.triage import Finding, Tier
from scheduler.clock import Clock
from store.models import OutboxMessage

log = logging.getLogger(__name__)

# what the patient is told, by the most severe finding of their answer
SAFETY_BY_TIER: dict[Tier, tuple[str, ...]] = {
    Tier.URGENT: ("urgent_now", "not_emergency"),
    Tier.URGENT_CALLBACK: ("callback", "not_emergency"),
    Tier.SOON: ("soon", "not_emergency"),
}


async def answer_tapped(
    query: CallbackQuery,
    callback_data: AnswerCb,
    actor: Actor,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
    settings: Settings,
    bot: Bot,
    policy: AlertPolicy,
) -> None:
    patient = actor.patient
    assert patient is not None
    lang = patient.language
    result = await record_answer(
        db,
        protocol,
        policy,
        patient=patient,
        checkin_id=callback_data.c,
        question_key=callback_data.q,
        code=callback_data.v,
        now=clock.now(),
    )
    if result.status == AnswerStatus.REFUSED:
        log.info("answer refused: user %s, check-in %s", actor.tg_user_id, callback_data.c)
        await query.answer(t("button_expired", lang), show_alert=True)
        return
    if result.status == AnswerStatus.CLOSED:
        await query.answer(t("checkin_closed", lang), show_alert=True)
        if isinstance(query.message, Message) and query.message.reply_markup is not None:
            await _quietly(query.message.edit_reply_markup(reply_markup=None))
        return
    if result.status == AnswerStatus.DUPLICATE:
        await query.answer(t("already_recorded", lang))
        return
    await query.answer()
    assert result.checkin is not None and result.definition is not None
    assert result.checkin.id is not None
    log.info("answer stored: check-in %s question %s", result.checkin.id, callback_data.q)
    if not isinstance(query.message, Message):
        return
    if result.next_ref is not None:
        text = checkin_text(
            protocol, result.definition, result.context, result.answered, result.next_ref, lang
        )
        await query.message.edit_text(
            text, reply_markup=question_keyboard(protocol, result.checkin.id, result.next_ref, lang)
        )
    else:
        text = checkin_text(
            protocol,
            result.definition,
            result.context,
            result.answered,
            None,
            lang,
            closing=t("checkin_thanks", lang),
        )
        await query.message.edit_text(text)
    values = {
        "emergency_number": settings.emergency_number,
        "clinic_phone": settings.clinic_phone or settings.clinic_name,
        "clinic_name": settings.clinic_name,
    }
    tier = Tier.URGENT if result.emergency else result.tier
    safety = SAFETY_BY_TIER.get(tier) if tier else None
    if safety is not None:
        # the red-flag reply goes straight back to the tap: never queued, never deferred
        lines = [protocol.safety[key].render(lang, **values) for key in safety]
        lines += finding_advice(protocol, result.findings, lang, values)
        await query.message.answer("⚠️ " + html.quote("\n\n".join(lines)))
    elif result.after:
        advice = "\n\n".join(text.render(lang, **values) for text in result.after)
        await query.message.answer(html.quote(advice))


def finding_advice(
    protocol: Protocol, findings: list[Finding], lang: str, values: dict[str, str]
) -> list[str]:
    """The advice texts the findings ask for (a near-faint: lie down, don't drive), once each."""
    keys = dict.fromkeys(key for f in findings for key in f.advice if key in protocol.advice)
    return [protocol.advice[key].render(lang, **values) for key in keys]


async def _quietly(call: object) -> None:
    """An edit whose failure (e.g. already edited) must not spoil the reply."""
    try:
        await call  # type: ignore[misc]
    except TelegramBadRequest:
        pass


async def exercise_button(
    query: CallbackQuery,
    callback_data: ExerciseCb,
    actor: Actor,
    db: AsyncSession,
    clock: Clock,
) -> None:
    patient = actor.patient
    assert patient is not None and patient.id is not None and patient.tg_user_id is not None
    lang = patient.language
    now = clock.now()
    if callback_data.action == "snooze":
        db.add(
            OutboxMessage(
                kind=KIND_EXERCISE,
                chat_id=patient.tg_user_id,
                patient_id=patient.id,
                due_at=now + timedelta(hours=1),
                expires_at=now + timedelta(hours=4),
                payload={"snoozed": True},
                created_at=now,
            )
        )
        await db.commit()
        await query.answer(t("exercise_snoozed", lang))
    elif callback_data.action == "stop":
        patient.exercise_reminders = False
        await cancel_pending(
            db, patient_id=patient.id, reason="reminders switched off", kinds=(KIND_EXERCISE,)
        )
        await db.commit()
        await query.answer(t("exercise_stopped", lang), show_alert=True)
    else:
        await query.answer(t("button_expired", lang), show_alert=True)
        return
    if isinstance(query.message, Message) and query.message.reply_markup is not None:
        await _quietly(query.message.edit_reply_markup(reply_markup=None))


async def multi_toggled(
    query: CallbackQuery,
    callback_data: MultiCb,
    actor: Actor,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
) -> None:
    """Tick or untick one choice of a multi question: stored, then the keyboard redrawn in place."""
    patient = actor.patient
    assert patient is not None
    lang = patient.language
    result = await toggle_draft(
        db,
        protocol,
        patient=patient,
        checkin_id=callback_data.c,
        question_key=callback_data.q,
        choice=callback_data.i,
        now=clock.now(),
    )
    if result.status == DraftStatus.REFUSED:
        log.info("toggle refused: user %s, check-in %s", actor.tg_user_id, callback_data.c)
        await query.answer(t("button_expired", lang), show_alert=True)
        return
    if result.status == DraftStatus.ANSWERED:
        await query.answer(t("already_recorded", lang))
        # recorded meanwhile (the sweep): show the next question in place of the old toggles
        if result.next_ref is not None and isinstance(query.message, Message):
            assert result.checkin is not None and result.checkin.id is not None
            assert result.definition is not None
            text = checkin_text(
                protocol, result.definition, result.context, result.answered, result.next_ref, lang
            )
            keyboard = question_keyboard(protocol, result.checkin.id, result.next_ref, lang)
            await _quietly(query.message.edit_text(text, reply_markup=keyboard))
        return
    await query.answer()
    assert result.checkin is not None and result.checkin.id is not None
    assert result.ref is not None
    if isinstance(query.message, Message):
        keyboard = question_keyboard(
            protocol, result.checkin.id, result.ref, lang, selected=result.selected
        )
        await _quietly(query.message.edit_reply_markup(reply_markup=keyboard))


async def multi_done(
    query: CallbackQuery,
    callback_data: MultiCb,
    actor: Actor,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
    settings: Settings,
    bot: Bot,
    policy: AlertPolicy,
) -> None:
    """ "Done": the ticked choices are recorded as one answer by the very path of a single tap
    (answer_tapped with the mask as the value) — alert, safety reply, next question — and
    the draft is forgotten. Nothing ticked: the patient is asked to tick first."""
    patient = actor.patient
    assert patient is not None
    mask = await draft_mask(
        db, patient=patient, checkin_id=callback_data.c, question_key=callback_data.q
    )
    if mask == 0:
        answered = await answered_value(
            db, patient=patient, checkin_id=callback_data.c, question_key=callback_data.q
        )
        if answered is not None:  # recorded already (a second Done, or the sweep)
            await query.answer(t("already_recorded", patient.language))
        else:
            await query.answer(t("multi_pick_first", patient.language), show_alert=True)
        return
    as_answer = AnswerCb(c=callback_data.c, q=callback_data.q, v=mask)
    try:
        await answer_tapped(query, as_answer, actor, db, protocol, clock, settings, bot, policy)
    finally:
        await clear_draft(
            db, patient=patient, checkin_id=callback_data.c, question_key=callback_data.q
        )


def make_router() -> Router:
    """A fresh router (one per dispatcher: aiogram routers attach to one parent)."""
    router = Router(name="checkin")
    router.callback_query.filter(IsPatient())
    router.callback_query.register(answer_tapped, AnswerCb.filter())
    router.callback_query.register(multi_toggled, MultiCb.filter(F.action == MultiAction.toggle))
    router.callback_query.register(multi_done, MultiCb.filter(F.action == MultiAction.done))
    router.callback_query.register(exercise_button, ExerciseCb.filter())
    return router
