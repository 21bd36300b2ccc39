"""How the desk's choices look: the patient and staff pickers, and the enrollment steps.

One patient picker serves every list a person picks a patient from — /session,
/discharge, /reassign, a deactivated therapist's patients, /patient and /patients — so a
patient reads the same everywhere ("name (#id)"), and a button carries the id only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiogram import html
from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import (
    DischargeAction,
    DischargeConfirmCb,
    EnrollBaselineCb,
    EnrollLegsCb,
    EnrollRegionCb,
    EnrollRegionsDoneCb,
    EnrollScreenCb,
    EnrollTimeCb,
    PageCb,
    PatientList,
    ScreenAction,
)
from bot.formatting import Style, plural
from bot.texts import Raw, t
from care.enrollment import SCREENING_FACTS
from care.records import StillOpen
from care.sessions import ENDED_COURSES, name_matches
from flows.protocol import Protocol
from flows.triage import Tier
from store.models import Patient, StaffMember

#: how long ago the session ended, as buttons (anything else is typed as HH:MM)
TIME_CHOICES_MINUTES = (0, 30, 60, 120)


def patient_label(patient: Patient) -> str:
    """A patient on a button: their name and id (the name is the staff's own typing); a
    course that has ended (discharged, stopped …) is flagged 🏁."""
    ended = " 🏁" if patient.status in ENDED_COURSES else ""
    return f"{(patient.display_name or '—')[:50]} (#{patient.id}){ended}"


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


#: patients a page of a picker (/patients, /session, /discharge …)
PAGE = 8
#: matches a typed search shows; more asks for more of the name
MATCHES_SHOWN = 8


def page_nav(what: PatientList, page: int, total: int, lang: str) -> list[InlineKeyboardButton]:
    """« Previous / Next » of a paged list of `total` patients."""
    nav = []
    if page > 0:
        nav.append((t("btn_page_previous", lang), page - 1))
    if (page + 1) * PAGE < total:
        nav.append((t("btn_page_next", lang), page + 1))
    return [
        InlineKeyboardButton(text=label, callback_data=PageCb(what=what, page=target).pack())
        for label, target in nav
    ]


def paged_picker(
    patients: Sequence[Patient],
    page: int,
    what: PatientList,
    button: Callable[[int], CallbackData],
    lang: str,
) -> tuple[int, InlineKeyboardMarkup]:
    """Page `page` of `patients` (clamped to the last one) as a picker with Previous / Next:
    every patient is reachable however many there are. Returns (the page shown, keyboard)."""
    last = max(0, (len(patients) - 1) // PAGE)
    page = min(max(page, 0), last)
    shown = patients[page * PAGE : (page + 1) * PAGE]
    below = page_nav(what, page, len(patients), lang)
    return page, patient_picker(shown, button, below=below)


def pick_text(key: str, lang: str, page: int, total: int) -> str:
    """A picker's question, with where this page is in the list and how to search."""
    pages = max(1, -(-total // PAGE))
    return t(key, lang) + "\n" + plural("pick_hint", lang, total, page=page + 1, pages=pages)


def matches_text(lang: str, typed: str, matches: int) -> str:
    """The answer to a typed search: how many names match, or that none does."""
    if not matches:
        return t("search_none", lang, typed=typed)
    if matches > MATCHES_SHOWN:
        return t("search_many", lang, typed=typed, count=matches, shown=MATCHES_SHOWN)
    return plural("search_found", lang, matches, typed=typed)


def desk_page(
    patients: Sequence[Patient],
    page: int,
    what: PatientList,
    button: Callable[[int], CallbackData],
    key: str,
    lang: str,
) -> tuple[str, InlineKeyboardMarkup]:
    """A desk picker's message (/session, /discharge): the question and one page."""
    page, markup = paged_picker(patients, page, what, button, lang)
    return pick_text(key, lang, page, len(patients)), markup


def desk_matches(
    patients: Sequence[Patient], typed: str, button: Callable[[int], CallbackData], lang: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A typed search's answer: the matching names as buttons, or that none matches."""
    found = name_matches(patients, typed)
    markup = patient_picker(found[:MATCHES_SHOWN], button) if found else None
    return matches_text(lang, typed, len(found)), markup


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


def discharge_confirmation(seen: StillOpen, style: Style) -> tuple[str, InlineKeyboardMarkup]:
    """ "Discharge X?" with what is still open (each waiting alert with its tier, the
    check-ins pending), what a discharge does, and Yes / No."""
    patient, lang = seen.patient, style.lang
    assert patient.id is not None
    lines = [t("discharge_confirm", lang, name=patient.display_name or "—", patient_id=patient.id)]
    if not seen.alerts and not seen.open_checkins and not seen.planned_checkins:
        lines.append(t("discharge_nothing_open", lang))
    else:
        lines.append(t("discharge_open_header", lang))
        for alert in seen.alerts:
            state = (
                "discharge_alert_unacked"
                if alert.acknowledged_at is None
                else ("discharge_alert_callback")
            )
            lines.append(
                t(
                    "discharge_open_alert",
                    lang,
                    tier=t(f"tier_word_{Tier(alert.tier).value}", lang),
                    raised=style.when(alert.created_at),
                    state=t(state, lang),
                )
            )
        if seen.open_checkins:
            lines.append(plural("discharge_open_checkins", lang, seen.open_checkins))
        if seen.planned_checkins:
            lines.append(plural("discharge_planned_checkins", lang, seen.planned_checkins))
    lines += ["", t("discharge_consequences", lang)]
    buttons = [
        InlineKeyboardButton(
            text=t(key, lang),
            callback_data=DischargeConfirmCb(action=action, patient_id=patient.id).pack(),
        )
        for key, action in (
            ("btn_discharge_yes", DischargeAction.confirm),
            ("btn_discharge_no", DischargeAction.keep),
        )
    ]
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=[buttons])


def legs_keyboard(lang: str) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(text=t(key, lang), callback_data=EnrollLegsCb(yes=yes).pack())
        for key, yes in (("btn_legs_yes", True), ("btn_legs_no", False))
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


def screening_keyboard(selected: Sequence[str], lang: str) -> InlineKeyboardMarkup:
    """One toggle per screening fact (☑ when ticked), then "None of these" and Done."""
    rows = [
        [
            InlineKeyboardButton(
                text=f"{'☑' if fact in selected else '☐'} {t(f'screen_{fact}', lang)}",
                callback_data=EnrollScreenCb(action=ScreenAction.toggle, i=i).pack(),
            )
        ]
        for i, fact in enumerate(SCREENING_FACTS)
    ]
    rows.append(
        [
            InlineKeyboardButton(
                text=t("btn_screen_none", lang),
                callback_data=EnrollScreenCb(action=ScreenAction.none).pack(),
            ),
            InlineKeyboardButton(
                text=t("btn_screen_done", lang),
                callback_data=EnrollScreenCb(action=ScreenAction.done).pack(),
            ),
        ]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def screening_facts(facts: Sequence[str], lang: str) -> str:
    """The ticked facts in words ("none of these" when none)."""
    if not facts:
        return t("screening_none", lang)
    return ", ".join(t(f"screen_{fact}", lang) for fact in facts)


def screening_summary(patient: Patient, lang: str) -> str:
    """One line for the therapist: the screening facts (⚠️ when any) and the buttock or leg
    symptoms; "not recorded" for patients enrolled before the step existed."""
    if patient.screening is None:
        return t("screening_not_recorded", lang)
    facts = screening_facts(patient.screening, lang)
    return t(
        "screening_line",
        lang,
        facts=Raw(("⚠️ " if patient.screening else "") + html.quote(facts)),
        legs=t("screening_legs_yes" if patient.leg_symptoms else "screening_legs_no", lang),
    )
