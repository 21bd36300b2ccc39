"""How the desk's choices look: the patient and staff pickers, and the enrollment steps.

One patient picker serves every list a person picks a patient from — /session,
/discharge, /reassign, a deactivated therapist's patients, /patient and /patients — so a
patient reads the same everywhere ("name (#id)"), and a button carries the id only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import EnrollBaselineCb, EnrollRegionCb, EnrollRegionsDoneCb, EnrollTimeCb
from bot.texts import t
from flows.protocol import Protocol
from store.models import Patient, StaffMember

#: how long ago the session ended, as buttons (anything else is typed as HH:MM)
TIME_CHOICES_MINUTES = (0, 30, 60, 120)


def patient_label(patient: Patient) -> str:
    """A patient on a button: their name and id (the name is the staff's own typing)."""
    return f"{patient.display_name or '—'} (#{patient.id})"[:60]


def patient_picker(
    patients: Sequence[Patient],
    button: Callable[[int], CallbackData],
    *,
    below: Sequence[InlineKeyboardButton] = (),
) -> InlineKeyboardMarkup:
    """One button per patient, one per row, its callback data made by `button(id)`; the
    `below` buttons (a page's Previous / Next) share the last row."""
    rows = []
    for patient in patients:
        assert patient.id is not None
        data = button(patient.id).pack()
        rows.append([InlineKeyboardButton(text=patient_label(patient), callback_data=data)])
    if below:
        rows.append(list(below))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def staff_picker(
    people: Sequence[StaffMember], button: Callable[[int], CallbackData]
) -> InlineKeyboardMarkup:
    """One button per staff member (a therapist to enroll with, or to move a patient to)."""
    rows = []
    for person in people:
        assert person.id is not None
        data = button(person.id).pack()
        rows.append([InlineKeyboardButton(text=person.name[:60], callback_data=data)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def time_label(minutes: int, lang: str) -> str:
    if minutes == 0:
        return t("btn_now", lang)
    if minutes < 60:
        return t("btn_minutes_ago", lang, minutes=minutes)
    return t("btn_hours_ago", lang, hours=minutes // 60)


def time_keyboard(lang: str) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            text=time_label(minutes, lang),
            callback_data=EnrollTimeCb(minutes_ago=minutes).pack(),
        )
        for minutes in TIME_CHOICES_MINUTES
    ]
    return InlineKeyboardMarkup(inline_keyboard=_pairs(buttons))


def regions_keyboard(protocol: Protocol, selected: list[str], lang: str) -> InlineKeyboardMarkup:
    """The protocol's regions, two a row, ticked when chosen; then Done."""
    buttons = [
        InlineKeyboardButton(
            text=f"{'✅ ' if region.key in selected else ''}{region.label.get(lang)}",
            callback_data=EnrollRegionCb(key=region.key).pack(),
        )
        for region in protocol.regions.values()
    ]
    rows = _pairs(buttons)
    done = EnrollRegionsDoneCb().pack()
    rows.append([InlineKeyboardButton(text=t("btn_done", lang), callback_data=done)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def regions_chosen(protocol: Protocol, keys: list[str], lang: str) -> str:
    return ", ".join(protocol.regions[k].label.get(lang) for k in keys)


def _pairs(buttons: list[InlineKeyboardButton]) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def baseline_keyboard() -> InlineKeyboardMarkup:
    """0 … 10, six then five."""
    buttons = [
        InlineKeyboardButton(text=str(v), callback_data=EnrollBaselineCb(value=v).pack())
        for v in range(11)
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons[:6], buttons[6:]])
