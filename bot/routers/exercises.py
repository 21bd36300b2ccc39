"""The patient's side of the home programme: /exercises (the programme with its
instructions, at any time) and the per-exercise buttons of a reminder — Done, Too
painful, All done — logged for the day the reminder was for (care.exercise_log)."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import ExerciseLogAction, ExerciseLogCb
from bot.config import Settings
from bot.filters import IsPatient
from bot.programme_view import exercise_card, programme_text, reminder_keyboard, send_with_media
from bot.texts import t
from care.alerts import AlertPolicy
from care.exercise_log import (
    DONE,
    PAINFUL,
    LogOutcome,
    log_exercises,
    logs_of_day,
    reminder_day,
    reminder_of,
)
from care.programme import media_of, programme_of
from flows.exercises import exercises_for_day
from flows.protocol import Protocol
from scheduler.clock import Clock
from store.models import Patient

log = logging.getLogger(__name__)


async def exercises_command(
    message: Message, patient: Patient, db: AsyncSession, protocol: Protocol, bot: Bot
) -> None:
    """The programme: the exercises without media in one message, then each exercise the
    clinic has a picture, video or GIF of, with its instructions as the caption."""
    assert patient.id is not None
    lang = patient.language
    entries = await programme_of(db, protocol, patient.id)
    media = await media_of(db, [e.exercise.key for e in entries])
    await message.answer(programme_text([e for e in entries if e.exercise.key not in media], lang))
    for entry in entries:
        if entry.exercise.key in media:
            card = exercise_card(entry.exercise, entry.dosage, lang)
            await send_with_media(bot, message.chat.id, media[entry.exercise.key], card)


async def _redraw(
    query: CallbackQuery,
    patient: Patient,
    db: AsyncSession,
    protocol: Protocol,
    settings: Settings,
    row_id: int,
) -> None:
    """The reminder's buttons again, ticked as logged (left be when nothing changed)."""
    message = query.message
    row = await reminder_of(db, patient, row_id)
    if not isinstance(message, Message) or row is None or patient.id is None:
        return
    day = reminder_day(row, patient, settings.clinic_timezone)
    programme = await programme_of(db, protocol, patient.id)
    todays = exercises_for_day(
        protocol, [e.exercise.key for e in programme], day, needling_day=False
    )
    logged = await logs_of_day(db, patient.id, day)
    # a reminder with exercises to log is never a needling day's: it offered the snooze
    markup = reminder_keyboard(row_id, todays, logged, protocol, patient.language, snooze=True)
    shown = message.reply_markup
    if shown is None or shown.model_dump(exclude_none=True) == markup.model_dump(exclude_none=True):
        return  # no buttons any more (snoozed), or nothing to tick
    try:
        await message.edit_reply_markup(reply_markup=markup)
    except TelegramBadRequest as exc:
        if "not modified" not in exc.message:
            raise


async def exercise_logged(
    query: CallbackQuery,
    callback_data: ExerciseLogCb,
    patient: Patient,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
    settings: Settings,
    policy: AlertPolicy,
) -> None:
    """Done / Too painful / All done: logged (committed) before the tap is answered."""
    lang = patient.language
    keys = list(protocol.exercises)
    every = callback_data.action == ExerciseLogAction.all
    exercise = None if every else keys[callback_data.k] if callback_data.k < len(keys) else ""
    kind = PAINFUL if callback_data.action == ExerciseLogAction.pain else DONE
    result = await log_exercises(
        db,
        protocol,
        policy,
        patient=patient,
        row_id=callback_data.r,
        exercise=exercise,
        kind=kind,
        default_tz=settings.clinic_timezone,
        now=clock.now(),
    )
    log.info("exercise reminder %s: %s %s", callback_data.r, kind, result.outcome)
    if result.outcome == LogOutcome.EXPIRED:
        await query.answer(t("button_expired", lang), show_alert=True)
        return
    if result.outcome == LogOutcome.ALREADY:
        await query.answer(t("ex_already_logged", lang))
    elif kind == PAINFUL:
        await query.answer(t("ex_pain_logged", lang), show_alert=True)
    else:
        await query.answer(t("ex_all_logged" if every else "ex_logged", lang))
    await _redraw(query, patient, db, protocol, settings, callback_data.r)


def make_router() -> Router:
    """A fresh router (one per dispatcher: aiogram routers attach to one parent)."""
    router = Router(name="exercises")
    router.message.filter(IsPatient())
    router.callback_query.filter(IsPatient())
    router.message.register(exercises_command, Command("exercises"))
    router.callback_query.register(exercise_logged, ExerciseLogCb.filter())
    return router
