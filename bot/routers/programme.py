"""The therapist's home-programme desk: from a patient card's "Programme" button, the
patient's exercises with − / + per exercise, one exercise's Type a dosage / Progress /
Remove, and Add by category from the library.

Every change goes through care.programme (one unit of work: ownership, a conditional
write, the audit, the patient's one message); the handlers only render. A forged or
stale tap changes nothing and shows the programme as it is now.
"""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import MediaCb, ProgrammeAction, ProgrammeCb
from bot.filters import HasRole
from bot.programme_view import (
    MEDIA_EXPIRED,
    MEDIA_HOW,
    MEDIA_PICK,
    OUTCOME_TOASTS,
    TYPE_DOSE_HINT,
    TYPED_STALE,
    TYPED_UNREADABLE,
    categories_view,
    category_view,
    dose_text,
    find_exercise,
    item_view,
    media_picker,
    media_saved,
    programme_list,
)
from care.programme import (
    Change,
    Entry,
    Outcome,
    add_exercise,
    change_dose,
    may_prescribe,
    open_programme,
    programme_of,
    progress_exercise,
    remove_exercise,
    set_media,
)
from flows.exercises import parse_dose
from flows.protocol import EXERCISE_CATEGORIES, Protocol
from scheduler.clock import Clock
from store.models import Patient, Role, StaffMember

log = logging.getLogger(__name__)

NOT_AVAILABLE = OUTCOME_TOASTS["refused"]


class ProgrammeInput(StatesGroup):
    dose = State()  # a typed dosage for one programme row
    media = State()  # a picture, video or GIF waiting for its exercise


def _sent_media(message: Message) -> tuple[str, str] | None:
    """(kind, file_id) of a photo (its largest size), a GIF or a short video."""
    if message.photo:
        return "photo", message.photo[-1].file_id
    if message.animation:  # a GIF also comes as a document: the animation is what it is
        return "animation", message.animation.file_id
    if message.video:
        return "video", message.video.file_id
    return None


async def media_command(message: Message) -> None:
    """/media typed alone: how to send the clinic's media."""
    await message.answer(MEDIA_HOW)


async def media_sent(
    message: Message,
    staff: StaffMember,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
    state: FSMContext,
) -> None:
    """A therapist's photo, video or GIF: with the caption /media <exercise>, kept for that
    exercise at once; otherwise (or if the name is not found) the exercise is picked."""
    sent = _sent_media(message)
    if sent is None:
        return
    kind, file_id = sent
    caption = (message.caption or "").strip()
    named = None
    if caption.lower().startswith("/media"):
        named = find_exercise(protocol, caption.split(maxsplit=1)[1] if " " in caption else "")
    if named is not None:
        await set_media(
            db,
            protocol,
            staff=staff,
            exercise=named.key,
            kind=kind,
            file_id=file_id,
            now=clock.now(),
        )
        log.info("exercise media %s (%s) by staff %s", named.key, kind, staff.id)
        await message.answer(media_saved(kind, named))
        return
    await state.set_state(ProgrammeInput.media)
    await state.set_data({"kind": kind, "file_id": file_id})
    await message.answer(MEDIA_PICK, reply_markup=media_picker(protocol))


async def media_picked(
    query: CallbackQuery,
    callback_data: MediaCb,
    staff: StaffMember,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
    state: FSMContext,
) -> None:
    data = await state.get_data()
    keys = list(protocol.exercises)
    if (
        await state.get_state() != ProgrammeInput.media.state
        or "file_id" not in data
        or callback_data.k >= len(keys)
    ):
        await query.answer(MEDIA_EXPIRED, show_alert=True)
        return
    exercise = protocol.exercises[keys[callback_data.k]]
    saved = await set_media(
        db,
        protocol,
        staff=staff,
        exercise=exercise.key,
        kind=str(data["kind"]),
        file_id=str(data["file_id"]),
        now=clock.now(),
    )
    await state.clear()
    if not saved:
        await query.answer(NOT_AVAILABLE, show_alert=True)
        return
    log.info("exercise media %s (%s) by staff %s", exercise.key, data["kind"], staff.id)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(media_saved(str(data["kind"]), exercise))


async def _show(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
    """Edit the programme message in place; a tap that would change nothing is left be
    (Telegram refuses a no-op edit)."""
    message = query.message
    if not isinstance(message, Message) or message.text is None:
        return
    shown = message.reply_markup
    if message.html_text == text and (
        shown is not None
        and shown.model_dump(exclude_none=True) == markup.model_dump(exclude_none=True)
    ):
        return  # shown already (a stale or double tap)
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "not modified" not in exc.message:
            raise


async def _patient(db: AsyncSession, staff: StaffMember, patient_id: int) -> Patient | None:
    patient = await db.get(Patient, patient_id)
    return patient if patient is not None and may_prescribe(staff, patient) else None


async def _entries(
    db: AsyncSession, protocol: Protocol, staff: StaffMember, patient_id: int, clock: Clock
) -> list[Entry] | None:
    return await open_programme(db, protocol, staff=staff, patient_id=patient_id, now=clock.now())


async def programme_shown(
    query: CallbackQuery,
    callback_data: ProgrammeCb,
    staff: StaffMember,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
) -> None:
    """ "Programme" on the card (a photo: the list comes as a new message), or « Programme
    on one of the programme's own views (edited in place)."""
    entries = await _entries(db, protocol, staff, callback_data.p, clock)
    patient = await _patient(db, staff, callback_data.p)
    if entries is None or patient is None:
        log.info("programme of patient %s refused for staff %s", callback_data.p, staff.id)
        await query.answer(NOT_AVAILABLE, show_alert=True)
        return
    text, markup = programme_list(patient, entries, protocol)
    await query.answer()
    if isinstance(query.message, Message) and query.message.text is not None:
        await _show(query, text, markup)
    elif isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=markup)


async def _after(
    query: CallbackQuery,
    change: Change,
    staff: StaffMember,
    db: AsyncSession,
    protocol: Protocol,
    patient_id: int,
) -> None:
    """The toast for the outcome, and the programme as it is now."""
    if change.outcome == Outcome.REFUSED:
        await query.answer(NOT_AVAILABLE, show_alert=True)
        return
    key = change.outcome.value
    if change.outcome == Outcome.DONE and not change.told:
        key = "done_silent"
    log.info("programme of patient %s: %s by staff %s", patient_id, key, staff.id)
    await query.answer(OUTCOME_TOASTS[key], show_alert=change.outcome != Outcome.DONE)
    patient = await _patient(db, staff, patient_id)
    if patient is None:
        return
    entries = await programme_of(db, protocol, patient_id)
    await _show(query, *programme_list(patient, entries, protocol))


async def dose_stepped(
    query: CallbackQuery,
    callback_data: ProgrammeCb,
    staff: StaffMember,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
) -> None:
    change = await change_dose(
        db,
        protocol,
        staff=staff,
        patient_id=callback_data.p,
        item_id=callback_data.i,
        shown=(callback_data.s, callback_data.a),
        up=callback_data.action == ProgrammeAction.up,
        now=clock.now(),
    )
    await _after(query, change, staff, db, protocol, callback_data.p)


async def _entry_of(
    db: AsyncSession, protocol: Protocol, staff: StaffMember, callback_data: ProgrammeCb
) -> tuple[Patient, Entry, list[Entry]] | None:
    """The patient, the row the button points at (still showing what it showed), and the
    whole programme; None when refused or stale."""
    patient = await _patient(db, staff, callback_data.p)
    if patient is None:
        return None
    entries = await programme_of(db, protocol, callback_data.p)
    for entry in entries:
        if entry.item_id == callback_data.i and (entry.dosage.sets, entry.dosage.amount) == (
            callback_data.s,
            callback_data.a,
        ):
            return patient, entry, entries
    return None


async def item_shown(
    query: CallbackQuery,
    callback_data: ProgrammeCb,
    staff: StaffMember,
    db: AsyncSession,
    protocol: Protocol,
) -> None:
    found = await _entry_of(db, protocol, staff, callback_data)
    if found is None:
        refused = await _patient(db, staff, callback_data.p) is None
        outcome = Outcome.REFUSED if refused else Outcome.STALE
        await _after(query, Change(outcome), staff, db, protocol, callback_data.p)
        return
    patient, entry, entries = found
    await query.answer()
    await _show(query, *item_view(patient, entry, entries, protocol))


async def dose_type_asked(
    query: CallbackQuery,
    callback_data: ProgrammeCb,
    staff: StaffMember,
    db: AsyncSession,
    protocol: Protocol,
    state: FSMContext,
) -> None:
    found = await _entry_of(db, protocol, staff, callback_data)
    if found is None:
        refused = await _patient(db, staff, callback_data.p) is None
        outcome = Outcome.REFUSED if refused else Outcome.STALE
        await _after(query, Change(outcome), staff, db, protocol, callback_data.p)
        return
    _, entry, _ = found
    await state.set_state(ProgrammeInput.dose)
    await state.set_data(
        {"p": callback_data.p, "i": callback_data.i, "s": callback_data.s, "a": callback_data.a}
    )
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(
            TYPE_DOSE_HINT.format(
                name=entry.exercise.name.get("en"),
                dose=dose_text(entry.dosage, len(entry.exercise.days), "en"),
            )
        )


async def dose_typed(
    message: Message,
    staff: StaffMember,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
    state: FSMContext,
) -> None:
    """The typed dosage: applied if readable and the row still shows what it did when
    "Type a dosage" was tapped; else a clear answer and nothing changed."""
    data = await state.get_data()
    shown = ProgrammeCb(
        action=ProgrammeAction.type, p=data["p"], i=data["i"], s=data["s"], a=data["a"]
    )
    found = await _entry_of(db, protocol, staff, shown)
    if found is None:
        await state.clear()
        await message.answer(TYPED_STALE)
        return
    patient, entry, _ = found
    typed = parse_dose(message.text or "", entry.dosage)
    if typed is None:
        await message.answer(TYPED_UNREADABLE.format(name=entry.exercise.name.get("en")))
        return
    change = await change_dose(
        db,
        protocol,
        staff=staff,
        patient_id=shown.p,
        item_id=shown.i,
        shown=(shown.s, shown.a),
        typed=typed,
        now=clock.now(),
    )
    await state.clear()
    key = change.outcome.value
    if change.outcome == Outcome.DONE and not change.told:
        key = "done_silent"
    log.info("programme of patient %s: typed dose %s by staff %s", shown.p, key, staff.id)
    entries = await programme_of(db, protocol, shown.p)
    text, markup = programme_list(patient, entries, protocol)
    await message.answer(OUTCOME_TOASTS[key] + "\n\n" + text, reply_markup=markup)


async def progressed(
    query: CallbackQuery,
    callback_data: ProgrammeCb,
    staff: StaffMember,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
) -> None:
    keys = list(protocol.exercises)
    exercise = keys[callback_data.k] if callback_data.k < len(keys) else ""
    change = await progress_exercise(
        db,
        protocol,
        staff=staff,
        patient_id=callback_data.p,
        item_id=callback_data.i,
        exercise=exercise,
        now=clock.now(),
    )
    await _after(query, change, staff, db, protocol, callback_data.p)


async def removed(
    query: CallbackQuery,
    callback_data: ProgrammeCb,
    staff: StaffMember,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
) -> None:
    change = await remove_exercise(
        db,
        protocol,
        staff=staff,
        patient_id=callback_data.p,
        item_id=callback_data.i,
        now=clock.now(),
    )
    await _after(query, change, staff, db, protocol, callback_data.p)


async def add_asked(
    query: CallbackQuery, callback_data: ProgrammeCb, staff: StaffMember, db: AsyncSession
) -> None:
    patient = await _patient(db, staff, callback_data.p)
    if patient is None:
        await query.answer(NOT_AVAILABLE, show_alert=True)
        return
    await query.answer()
    await _show(query, *categories_view(patient))


async def category_shown(
    query: CallbackQuery,
    callback_data: ProgrammeCb,
    staff: StaffMember,
    db: AsyncSession,
    protocol: Protocol,
) -> None:
    patient = await _patient(db, staff, callback_data.p)
    if patient is None or callback_data.k >= len(EXERCISE_CATEGORIES):
        await query.answer(NOT_AVAILABLE, show_alert=True)
        return
    entries = await programme_of(db, protocol, callback_data.p)
    await query.answer()
    await _show(
        query, *category_view(patient, EXERCISE_CATEGORIES[callback_data.k], entries, protocol)
    )


async def picked(
    query: CallbackQuery,
    callback_data: ProgrammeCb,
    staff: StaffMember,
    db: AsyncSession,
    protocol: Protocol,
    clock: Clock,
) -> None:
    keys = list(protocol.exercises)
    exercise = keys[callback_data.k] if callback_data.k < len(keys) else ""
    change = await add_exercise(
        db, protocol, staff=staff, patient_id=callback_data.p, exercise=exercise, now=clock.now()
    )
    await _after(query, change, staff, db, protocol, callback_data.p)


def make_router() -> Router:
    """A fresh router (one per dispatcher: aiogram routers attach to one parent)."""
    router = Router(name="programme")
    router.message.filter(HasRole(Role.THERAPIST, Role.ADMIN))
    router.callback_query.filter(HasRole(Role.THERAPIST, Role.ADMIN))
    router.message.register(
        dose_typed, StateFilter(ProgrammeInput.dose), F.text, ~F.text.startswith("/")
    )
    router.message.register(media_sent, F.photo | F.video | F.animation)
    router.message.register(media_command, Command("media"))
    router.callback_query.register(media_picked, MediaCb.filter())
    on = ProgrammeCb.filter
    router.callback_query.register(programme_shown, on(F.action == ProgrammeAction.show))
    router.callback_query.register(item_shown, on(F.action == ProgrammeAction.item))
    router.callback_query.register(
        dose_stepped, on(F.action.in_({ProgrammeAction.up, ProgrammeAction.down}))
    )
    router.callback_query.register(dose_type_asked, on(F.action == ProgrammeAction.type))
    router.callback_query.register(progressed, on(F.action == ProgrammeAction.progress))
    router.callback_query.register(removed, on(F.action == ProgrammeAction.remove))
    router.callback_query.register(add_asked, on(F.action == ProgrammeAction.add))
    router.callback_query.register(category_shown, on(F.action == ProgrammeAction.category))
    router.callback_query.register(picked, on(F.action == ProgrammeAction.pick))
    return router
