"""Patients answering check-ins, one tap at a time, and their exercise-reminder buttons.

Order matters (invariants 3 and 8): the answer is committed, then the tap is
acknowledged, then any safety reply is sent as a new message, and only then is the
message edited to the next question — so a rating the patient saw accepted is in the
database, a warning sign's reply never waits on an edit, and the old buttons are gone.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from aiogram import Bot, F, Router, html
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import (
    AnswerCb,
    ExerciseAction,
    ExerciseCb,
    MultiAction,
    MultiCb,
    SnoozeCb,
)
from bot.checkin_view import checkin_text, question_keyboard
from bot.config import Settings
from bot.controls_view import symptom_keyboard
from bot.filters import IsPatient
from bot.texts import clinic_of, t, toast
from care.alerts import AlertPolicy
from care.checkins import LATE_ANSWER_STATUSES, AnswerResult, AnswerStatus, record_answer
from care.controls import SnoozeOutcome, snooze_exercise, stop_exercise_reminders
from care.multi_answers import (
    DraftStatus,
    answered_value,
    clear_draft,
    draft_mask,
    toggle_draft,
)
from care.safety_reply import safety_reply_later
from flows.protocol import Protocol
from flows.triage import Finding, Tier
from scheduler.clock import Clock
from store.models import CheckinState, Patient

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
    patient: Patient,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
    settings: Settings,
    bot: Bot,
    policy: AlertPolicy,
) -> None:
    """One answer tap. Its safety reply never waits on the old message (invariant 8).

    The answer is committed, the tap acknowledged, then the safety or emergency text goes
    out as a NEW message, and only then is the tapped message edited (next question,
    closing words, buttons taken away). An edit Telegram refuses (too old, deleted, not
    modified, any error) is logged and passed over: it can neither stop nor delay the
    reply. A red flag tapped on a check-in that has closed is recorded late and gets the
    same reply; any other late answer gets a kind word and loses its buttons.
    """
    lang = patient.language
    chat_id = query.from_user.id  # their private chat
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
        log.info("answer refused: user %s, check-in %s", chat_id, callback_data.c)
        await query.answer(t("button_expired", lang), show_alert=True)
        return
    if result.status == AnswerStatus.CLOSED:
        log.info("late answer not kept: check-in %s question %s", callback_data.c, callback_data.q)
        if patient.status in LATE_ANSWER_STATUSES:
            await query.answer()
            await bot.send_message(
                chat_id, t("late_answer_closed", lang), reply_markup=symptom_keyboard(lang)
            )
        else:  # stopped, discharged …: nothing more comes, so no "next one at its time"
            await query.answer(
                toast("patient_inactive", lang, clinic=clinic_of(settings.clinic_name, lang)),
                show_alert=True,
            )
        await _edit_quietly(_remove_buttons(bot, query, chat_id))
        return
    if result.status == AnswerStatus.DUPLICATE:
        # a tap delivered again after its instance died: its query may be answered already
        await _quietly(query.answer(t("already_recorded", lang)))
        if result.checkin is not None and result.checkin.state != CheckinState.OPEN:
            await _edit_quietly(_remove_buttons(bot, query, chat_id))
        elif result.next_ref is not None and _still_asks(query, callback_data):
            await _move_on_again(bot, query, chat_id, protocol, result, lang)
        return
    await query.answer()
    assert result.checkin is not None and result.definition is not None
    assert result.checkin.id is not None
    log.info(
        "answer stored: check-in %s question %s%s",
        result.checkin.id,
        callback_data.q,
        " (late)" if result.late else "",
    )
    values = {
        "emergency_number": settings.emergency_number,
        "clinic_phone": settings.clinic_phone,
        "clinic_name": clinic_of(settings.clinic_name, lang),
    }
    tier = Tier.URGENT if result.emergency else result.tier
    safety = SAFETY_BY_TIER.get(tier) if tier else None
    if safety is not None:
        # the red-flag reply goes straight back to the tap, first: never queued, never
        # deferred, never behind an edit of the old message
        lines = [protocol.safety[key].render(lang, **values) for key in safety]
        lines += finding_advice(protocol, result.findings, lang, values)
        try:
            await bot.send_message(chat_id, "⚠️ " + html.quote("\n\n".join(lines)))
        except TelegramAPIError as exc:  # never lost: the outbox sends it, retrying
            log.warning(
                "safety reply to check-in %s not sent (%s): queued",
                result.checkin.id,
                type(exc).__name__,
            )
            await safety_reply_later(
                db,
                patient=patient,
                checkin_id=result.checkin.id,
                findings=result.findings,
                now=clock.now(),
            )
    await _edit_after_answer(bot, query, chat_id, protocol, result, lang)
    if safety is None and result.after:
        advice = "\n\n".join(text.render(lang, **values) for text in result.after)
        await bot.send_message(chat_id, html.quote(advice))


async def _edit_after_answer(
    bot: Bot,
    query: CallbackQuery,
    chat_id: int,
    protocol: Protocol,
    result: AnswerResult,
    lang: str,
) -> None:
    """Move the tapped message on: the next question, or the closing words. A next
    question Telegram will not put in the old message comes as a new one."""
    assert result.checkin is not None and result.checkin.id is not None
    assert result.definition is not None
    if result.late:
        await _edit_quietly(_remove_buttons(bot, query, chat_id))
        return
    if result.corrected:  # the message already shows a later question: leave it there
        return
    message_id = _tapped_message_id(query)
    if result.next_ref is not None:
        text = checkin_text(
            protocol, result.definition, result.context, result.answered, result.next_ref, lang
        )
        keyboard = question_keyboard(protocol, result.checkin.id, result.next_ref, lang)
        edited = message_id is not None and await _edit_quietly(
            bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, reply_markup=keyboard
            )
        )
        if not edited:
            await bot.send_message(chat_id, text, reply_markup=keyboard)
        return
    text = checkin_text(
        protocol,
        result.definition,
        result.context,
        result.answered,
        None,
        lang,
        closing=t("checkin_thanks", lang),
    )
    if message_id is not None:
        await _edit_quietly(bot.edit_message_text(text, chat_id=chat_id, message_id=message_id))


def _still_asks(query: CallbackQuery, tapped: AnswerCb) -> bool:
    """Whether the tapped message, as the update carries it, still asks the question
    whose answer is stored (its buttons are that question's)."""
    message = query.message
    markup = message.reply_markup if isinstance(message, Message) else None
    if markup is None:
        return False
    for row in markup.inline_keyboard:
        for button in row:
            try:
                shown = AnswerCb.unpack(button.callback_data or "")
            except (TypeError, ValueError):
                continue
            return shown.c == tapped.c and shown.q == tapped.q
    return False


async def _move_on_again(
    bot: Bot,
    query: CallbackQuery,
    chat_id: int,
    protocol: Protocol,
    result: AnswerResult,
    lang: str,
) -> None:
    """A stored answer whose message still asks its question: the instance that stored it
    died before moving the message on, and Telegram delivered the tap again (issue 13
    item 5). The next question now, once: "not modified" means it was in fact shown."""
    assert result.checkin is not None and result.checkin.id is not None
    assert result.definition is not None and result.next_ref is not None
    message_id = _tapped_message_id(query)
    text = checkin_text(
        protocol, result.definition, result.context, result.answered, result.next_ref, lang
    )
    keyboard = question_keyboard(protocol, result.checkin.id, result.next_ref, lang)
    if message_id is not None:
        try:
            await bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, reply_markup=keyboard
            )
            return
        except TelegramBadRequest as exc:
            if "not modified" in exc.message:
                return
            log.info("edit of a tapped message refused: %s", type(exc).__name__)
    await bot.send_message(chat_id, text, reply_markup=keyboard)


def _tapped_message_id(query: CallbackQuery) -> int | None:
    """The tapped message's id, also when Telegram no longer shows us its content
    (an InaccessibleMessage: too old)."""
    return query.message.message_id if query.message is not None else None


def _remove_buttons(bot: Bot, query: CallbackQuery, chat_id: int) -> Awaitable[object] | None:
    if isinstance(query.message, Message) and query.message.reply_markup is None:
        return None  # nothing to take away ("message is not modified")
    message_id = _tapped_message_id(query)
    if message_id is None:
        return None
    return bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id)


async def _edit_quietly(call: Awaitable[object] | None) -> bool:
    """An edit of an old message: whether it worked. A refusal (too old, deleted, not
    modified) or any other Telegram error is logged and never spoils the reply."""
    if call is None:
        return False
    try:
        await call
    except TelegramAPIError as exc:
        log.info("edit of a tapped message refused: %s", type(exc).__name__)
        return False
    return True


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


async def exercise_snoozed(
    query: CallbackQuery,
    callback_data: SnoozeCb | ExerciseCb,
    patient: Patient,
    db: AsyncSession,
    clock: Clock,
    settings: Settings,
) -> None:
    """ "Remind me in 1 h" under an exercise reminder: a copy comes back in an hour. Only
    while the reminder is today's; an older button (or one from before buttons named their
    reminder) says so and changes nothing."""
    outcome = await snooze_exercise(
        db,
        patient,
        reminder_id=callback_data.r if isinstance(callback_data, SnoozeCb) else 0,
        default_tz=settings.clinic_timezone,
        now=clock.now(),
    )
    lang = patient.language
    if outcome == SnoozeOutcome.STALE:
        await query.answer(t("snooze_stale", lang), show_alert=True)
    elif outcome == SnoozeOutcome.ALREADY:
        await query.answer(t("already_recorded", lang))
    else:
        await query.answer(t("exercise_snoozed", lang))
    await _retire_keyboard(query)


async def exercise_stopped(query: CallbackQuery, patient: Patient, db: AsyncSession) -> None:
    """ "Stop reminders": no more exercise reminders (settings can turn them back on)."""
    await stop_exercise_reminders(db, patient)
    await query.answer(t("exercise_stopped", patient.language), show_alert=True)
    await _retire_keyboard(query)


async def _retire_keyboard(query: CallbackQuery) -> None:
    if isinstance(query.message, Message) and query.message.reply_markup is not None:
        await _quietly(query.message.edit_reply_markup(reply_markup=None))


async def multi_toggled(
    query: CallbackQuery,
    callback_data: MultiCb,
    patient: Patient,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
) -> None:
    """Tick or untick one choice of a multi question: stored, then the keyboard redrawn in place."""
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
        log.info("toggle refused: user %s, check-in %s", query.from_user.id, callback_data.c)
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
    patient: Patient,
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
    mask = await draft_mask(
        db, patient=patient, checkin_id=callback_data.c, question_key=callback_data.q
    )
    if mask == 0:
        answered = await answered_value(
            db, patient=patient, checkin_id=callback_data.c, question_key=callback_data.q
        )
        if answered is not None:  # recorded already (a second Done, or the sweep): as a
            # toggle would, show what follows in place of the old ticks
            await multi_toggled(query, callback_data, patient, db, protocol, clock)
        else:
            await query.answer(t("multi_pick_first", patient.language), show_alert=True)
        return
    as_answer = AnswerCb(c=callback_data.c, q=callback_data.q, v=mask)
    try:
        await answer_tapped(query, as_answer, patient, db, protocol, clock, settings, bot, policy)
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
    # one handler per action: a forged action does not parse and reaches the fallback
    router.callback_query.register(exercise_snoozed, SnoozeCb.filter())
    router.callback_query.register(
        exercise_snoozed, ExerciseCb.filter(F.action == ExerciseAction.snooze)
    )
    router.callback_query.register(
        exercise_stopped, ExerciseCb.filter(F.action == ExerciseAction.stop)
    )
    return router
