"""How an exercise of a patient's home programme reads: its dosage in words, and the
block of name, dosage and instructions that /exercises, the reminder and a programme
change show (patient texts, EN + ES, from bot/texts.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from aiogram import Bot, html
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.callbacks import ExerciseLogAction, ExerciseLogCb, MediaCb, ProgrammeAction, ProgrammeCb
from bot.controls_view import exercise_keyboard
from bot.texts import Raw, t
from care.programme import Entry
from flows.protocol import EXERCISE_CATEGORIES, Dosage, Exercise, Protocol
from store.models import ExerciseMedia, Patient


def dose_text(dosage: Dosage, days: int, lang: str) -> str:
    """ "2 × 30 s each side, every day", "20 min, 5 days a week" — HTML-safe."""
    if dosage.unit == "minutes" and dosage.sets == 1:
        dose = t("dose_minutes_once", lang, amount=dosage.amount)
    else:
        dose = t(f"dose_{dosage.unit}", lang, sets=dosage.sets, amount=dosage.amount)
    if dosage.each_side:
        dose = t("dose_each_side", lang, dose=Raw(dose))
    if days >= 7:
        return t("dose_every_day", lang, dose=Raw(dose))
    if days == 1:
        return t("dose_once_a_week", lang, dose=Raw(dose))
    return t("dose_days_a_week", lang, dose=Raw(dose), days=days)


def exercise_line(exercise: Exercise, dosage: Dosage, lang: str) -> str:
    """One bullet: the name and the dosage."""
    return t(
        "exercise_dose",
        lang,
        name=exercise.name.get(lang),
        dose=Raw(dose_text(dosage, len(exercise.days), lang)),
    )


def exercise_card(exercise: Exercise, dosage: Dosage, lang: str) -> str:
    """The name, the dosage and the 3–5 lines of instructions."""
    return t(
        "exercise_card",
        lang,
        name=exercise.name.get(lang),
        dose=Raw(dose_text(dosage, len(exercise.days), lang)),
        instructions=Raw(html.quote(exercise.instructions.get(lang))),
    )


def programme_change_text(
    payload: Mapping[str, Any], exercise: Exercise, previous: Exercise | None, lang: str
) -> str:
    """The patient's one message about a change: what changed; for an added, re-dosed or
    progressed exercise the new instructions with the dosage the therapist set."""
    change = payload.get("change")
    if change == "removed":
        return t("programme_removed", lang, name=exercise.name.get(lang))
    dosage = replace(
        exercise.dosage,
        sets=int(payload.get("sets", exercise.dosage.sets)),
        amount=int(payload.get("amount", exercise.dosage.amount)),
    )
    if change == "progressed" and previous is not None:
        lead = t("programme_progressed", lang, name=previous.name.get(lang))
    elif change == "dose":
        lead = t("programme_dose", lang)
    else:
        lead = t("programme_added", lang)
    return "\n\n".join([lead, exercise_card(exercise, dosage, lang), t("programme_footer", lang)])


# --- the therapist's side (staff texts are English, as on the card) ---------------------

CATEGORY_LABELS = {"stretch": "Stretches", "strength": "Strength", "movement": "Movement"}
PROGRAMME_HINT = (
    "− / + change a dose one step; tap an exercise to type a dosage, progress or remove it."
)
TYPE_DOSE_HINT = (
    "Type the new dosage for <b>{name}</b> (now {dose}): sets × amount like <code>3x12</code>, "
    "or just the amount. /cancel to keep it."
)
TYPED_STALE = (
    "The programme changed after you tapped Type a dosage. Nothing changed: open the "
    "programme again."
)
TYPED_UNREADABLE = (
    "I could not read that as a dosage for {name} (for example <code>3x12</code>, "
    "<code>2x30</code>, <code>20</code>). Nothing changed; type it again or /cancel."
)

#: The toast after a tap, by care.programme.Outcome value.
OUTCOME_TOASTS = {
    "done": "Done ✓ — the patient gets one message with the new instructions.",
    "done_silent": "Done ✓ (the patient has not joined yet: they see it in /exercises).",
    "refused": "Sorry, that is not available to you.",
    "stale": "This button has expired: the programme changed since. Here it is now.",
    "already": "That exercise is in the programme already.",
    "full": "The programme has its maximum of exercises: remove one first.",
    "too_few": "The programme has its minimum of exercises: add one first.",
    "at_limit": "The dosage cannot go further that way.",
    "no_next": "There is no next step for this exercise (or it is in the programme already).",
    "invalid": "That is not an exercise of the library.",
}


def _staff_dose(entry: Entry) -> str:
    return dose_text(entry.dosage, len(entry.exercise.days), "en")


def programme_list(
    patient: Patient, entries: Sequence[Entry], protocol: Protocol
) -> tuple[str, InlineKeyboardMarkup]:
    """The programme: a line per exercise, − / + per exercise, and Add."""
    assert patient.id is not None
    lines = [f"<b>Home programme</b> · {html.quote(patient.display_name or '—')} (#{patient.id})"]
    for n, entry in enumerate(entries, 1):
        lines.append(f"{n}. {html.quote(entry.exercise.name.get('en'))}: {_staff_dose(entry)}")
    lines += ["", PROGRAMME_HINT]
    rows: list[list[InlineKeyboardButton]] = []
    for entry in entries:
        item = entry.item_id or 0
        shown = {"p": patient.id, "i": item, "s": entry.dosage.sets, "a": entry.dosage.amount}
        rows.append(
            [
                InlineKeyboardButton(
                    text=entry.exercise.name.get("en"),
                    callback_data=ProgrammeCb(action=ProgrammeAction.item, **shown).pack(),
                ),
                InlineKeyboardButton(
                    text="−", callback_data=ProgrammeCb(action=ProgrammeAction.down, **shown).pack()
                ),
                InlineKeyboardButton(
                    text="+", callback_data=ProgrammeCb(action=ProgrammeAction.up, **shown).pack()
                ),
            ]
        )
    if len(entries) < protocol.exercise_plan.picks_max:
        rows.append(
            [
                InlineKeyboardButton(
                    text="➕ Add an exercise",
                    callback_data=ProgrammeCb(action=ProgrammeAction.add, p=patient.id).pack(),
                )
            ]
        )
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def _back(patient_id: int) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text="« Programme",
        callback_data=ProgrammeCb(action=ProgrammeAction.show, p=patient_id).pack(),
    )


def item_view(
    patient: Patient, entry: Entry, entries: Sequence[Entry], protocol: Protocol
) -> tuple[str, InlineKeyboardMarkup]:
    """One exercise: what the patient reads, and Type a dosage / Progress / Remove."""
    assert patient.id is not None and entry.item_id is not None
    text = "\n\n".join(
        [
            f"<b>Home programme</b> · {html.quote(patient.display_name or '—')} (#{patient.id})",
            exercise_card(entry.exercise, entry.dosage, "en"),
        ]
    )
    keys = list(protocol.exercises)
    shown = {"p": patient.id, "i": entry.item_id, "s": entry.dosage.sets, "a": entry.dosage.amount}
    rows = [
        [
            InlineKeyboardButton(
                text="✏️ Type a dosage",
                callback_data=ProgrammeCb(action=ProgrammeAction.type, **shown).pack(),
            )
        ]
    ]
    following = entry.exercise.next
    if following is not None and all(e.exercise.key != following for e in entries):
        rows.append(
            [
                InlineKeyboardButton(
                    text=f"⏭ Progress to {protocol.exercises[following].name.get('en')}",
                    callback_data=ProgrammeCb(
                        action=ProgrammeAction.progress, k=keys.index(entry.exercise.key), **shown
                    ).pack(),
                )
            ]
        )
    if len(entries) > protocol.exercise_plan.picks_min:
        rows.append(
            [
                InlineKeyboardButton(
                    text="🗑 Remove",
                    callback_data=ProgrammeCb(action=ProgrammeAction.remove, **shown).pack(),
                )
            ]
        )
    rows.append([_back(patient.id)])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def categories_view(patient: Patient) -> tuple[str, InlineKeyboardMarkup]:
    assert patient.id is not None
    buttons = [
        InlineKeyboardButton(
            text=CATEGORY_LABELS.get(category, category),
            callback_data=ProgrammeCb(action=ProgrammeAction.category, p=patient.id, k=n).pack(),
        )
        for n, category in enumerate(EXERCISE_CATEGORIES)
    ]
    text = f"Add to the programme of {html.quote(patient.display_name or '—')}: which kind?"
    return text, InlineKeyboardMarkup(inline_keyboard=[buttons, [_back(patient.id)]])


def category_view(
    patient: Patient, category: str, entries: Sequence[Entry], protocol: Protocol
) -> tuple[str, InlineKeyboardMarkup]:
    """The category's exercises not in the programme yet, one button each."""
    assert patient.id is not None
    taken = {entry.exercise.key for entry in entries}
    rows = [
        [
            InlineKeyboardButton(
                text=exercise.name.get("en"),
                callback_data=ProgrammeCb(action=ProgrammeAction.pick, p=patient.id, k=n).pack(),
            )
        ]
        for n, exercise in enumerate(protocol.exercises.values())
        if exercise.category == category and exercise.key not in taken
    ]
    label = CATEGORY_LABELS.get(category, category)
    text = f"{label}: tap one to add it at its usual dosage."
    if not rows:
        text = f"{label}: every one of them is in the programme already."
    rows.append([_back(patient.id)])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def programme_button(patient_id: int) -> InlineKeyboardMarkup:
    """Under a patient card: the patient's home programme."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text="🏋 Programme",
                    callback_data=ProgrammeCb(action=ProgrammeAction.show, p=patient_id).pack(),
                )
            ]
        ]
    )


def reminder_keyboard(
    row_id: int,
    todays: Sequence[Exercise],
    logged: Mapping[str, set[str]],
    protocol: Protocol,
    lang: str,
    *,
    snooze: bool,
) -> InlineKeyboardMarkup:
    """Under an exercise reminder: per exercise Done and Too painful (ticked once logged),
    All done, then the reminder's own Remind me in 1 h (not on a needling day) / Stop
    reminders."""
    keys = list(protocol.exercises)
    rows: list[list[InlineKeyboardButton]] = []
    for exercise in todays:
        kinds = logged.get(exercise.key, set())
        name = exercise.name.get(lang)
        k = keys.index(exercise.key)
        rows.append(
            [
                InlineKeyboardButton(
                    text=t("btn_ex_logged" if "done" in kinds else "btn_ex_done", lang, name=name),
                    callback_data=ExerciseLogCb(
                        action=ExerciseLogAction.done, r=row_id, k=k
                    ).pack(),
                ),
                InlineKeyboardButton(
                    text=t("btn_ex_pain_logged" if "painful" in kinds else "btn_ex_pain", lang),
                    callback_data=ExerciseLogCb(
                        action=ExerciseLogAction.pain, r=row_id, k=k
                    ).pack(),
                ),
            ]
        )
    if todays:
        rows.append(
            [
                InlineKeyboardButton(
                    text=t("btn_ex_all_done", lang),
                    callback_data=ExerciseLogCb(action=ExerciseLogAction.all, r=row_id).pack(),
                )
            ]
        )
    rows += exercise_keyboard(lang, row_id, snooze=snooze).inline_keyboard
    return InlineKeyboardMarkup(inline_keyboard=rows)


def programme_text(entries: Sequence[Entry], lang: str) -> str:
    """/exercises: every exercise with its dosage and instructions, and the safety line."""
    parts = [t("exercises_header", lang)]
    parts += [exercise_card(entry.exercise, entry.dosage, lang) for entry in entries]
    parts.append(t("exercises_footer", lang))
    return "\n\n".join(parts)


MEDIA_HOW = (
    "Send a photo, a short video or a GIF with the caption <code>/media exercise</code> "
    "(for example <code>/media glute_bridge</code>), or send it and pick the exercise. "
    "Patients see it with that exercise's instructions from then on."
)
MEDIA_PICK = "Which exercise is this for?"
MEDIA_EXPIRED = "That file is no longer waiting: send it again."


def media_saved(kind: str, exercise: Exercise) -> str:
    what = {"photo": "photo", "video": "video", "animation": "GIF"}.get(kind, kind)
    return (
        f"Saved ✓ The {what} now shows with <b>{html.quote(exercise.name.get('en'))}</b> "
        "in every patient's instructions."
    )


def media_picker(protocol: Protocol) -> InlineKeyboardMarkup:
    """One button per library exercise, two a row."""
    buttons = [
        InlineKeyboardButton(text=exercise.name.get("en"), callback_data=MediaCb(k=n).pack())
        for n, exercise in enumerate(protocol.exercises.values())
    ]
    return InlineKeyboardMarkup(
        inline_keyboard=[buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    )


def find_exercise(protocol: Protocol, typed: str) -> Exercise | None:
    """The exercise a therapist named after /media: its key, or its name in any language
    (case and spaces ignored); None when nothing or several match."""
    wanted = " ".join(typed.lower().replace("_", " ").split())
    if not wanted:
        return None
    for exercise in protocol.exercises.values():
        names = {exercise.key.replace("_", " ")} | {
            " ".join(name.lower().split()) for name in exercise.name.translations.values()
        }
        if wanted in names:
            return exercise
    starts = [
        e
        for e in protocol.exercises.values()
        if any(n.lower().startswith(wanted) for n in e.name.translations.values())
    ]
    return starts[0] if len(starts) == 1 else None


#: Telegram's limit on a media caption.
CAPTION_MAX = 1024


async def send_with_media(bot: Bot, chat_id: int, media: ExerciseMedia, text: str) -> Message:
    """The clinic's photo, video or GIF by its file_id (no re-upload) with `text` as the
    caption; a text longer than a caption goes as a message under the media."""
    caption = text if len(text) <= CAPTION_MAX else None
    if media.kind == "video":
        sent = await bot.send_video(chat_id, media.file_id, caption=caption)
    elif media.kind == "animation":
        sent = await bot.send_animation(chat_id, media.file_id, caption=caption)
    else:
        sent = await bot.send_photo(chat_id, media.file_id, caption=caption)
    if caption is None:
        return await bot.send_message(chat_id, text)
    return sent
