"""How a patient's own controls look: consent, /pause, /stop, /settings, /language,
/delete, the reply to typed words, and "Report a new symptom"."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import (
    ConsentCb,
    ConsentLangCb,
    DeleteCb,
    ExerciseAction,
    ExerciseCb,
    LanguageCb,
    NoteCb,
    PauseCb,
    ReminderTimeCb,
    SettingsCb,
    SettingsField,
    SnoozeCb,
    StopCb,
    SymptomAction,
    SymptomCb,
    TimezoneCb,
)
from bot.formatting import plural
from bot.texts import LANGUAGES, clinic_of, t
from flows.timezones import city_name, zone_label
from store.models import Patient

#: the reminder times offered as buttons (any other is typed)
REMINDER_CHOICES = ("07:30", "09:00", "12:00", "15:00", "18:00", "20:00")
#: each language in its own words
LANGUAGE_NAMES = {"en": "English", "es": "Español"}


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def consent_text(lang: str, *, clinic: str, therapist: str, emergency: str) -> str:
    """The welcome and the consent in one message, so that choosing the other language
    below it shows all of it again in that language."""
    welcome = t("welcome", lang, clinic=clinic_of(clinic, lang), therapist=therapist)
    return f"{welcome}\n\n{t('consent', lang, emergency=emergency)}"


def consent_keyboard(patient_id: int, lang: str) -> InlineKeyboardMarkup:
    """Agree / Decline under the consent text, and below them one button per language (the
    one shown ticked): the patient chooses the language here. The patient id is checked on
    the tap."""
    agree = ConsentCb(patient_id=patient_id, agree=True)
    decline = ConsentCb(patient_id=patient_id, agree=False)
    languages = [
        _button(
            f"✓ {LANGUAGE_NAMES[code]}" if code == lang else LANGUAGE_NAMES[code],
            ConsentLangCb(patient_id=patient_id, lang=code),
        )
        for code in LANGUAGES
    ]
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(t("btn_agree", lang), agree), _button(t("btn_decline", lang), decline)],
            languages,
        ]
    )


def symptom_button(lang: str) -> InlineKeyboardButton:
    return _button(t("btn_symptom", lang), SymptomCb(action=SymptomAction.start))


def symptom_keyboard(lang: str) -> InlineKeyboardMarkup:
    """One button: "Report a new symptom" (the /symptom questions)."""
    return InlineKeyboardMarkup(inline_keyboard=[[symptom_button(lang)]])


def exercise_keyboard(lang: str, reminder_id: int, *, snooze: bool) -> InlineKeyboardMarkup:
    """Under an exercise reminder: remind me in an hour (not on a needling day: there is
    nothing to do later), or no more reminders."""
    stop = _button(t("btn_stop_reminders", lang), ExerciseCb(action=ExerciseAction.stop))
    if not snooze:
        return InlineKeyboardMarkup(inline_keyboard=[[stop]])
    later = _button(t("btn_snooze", lang), SnoozeCb(r=reminder_id))
    return InlineKeyboardMarkup(inline_keyboard=[[later, stop]])


def note_keyboard(note_id: int, lang: str) -> InlineKeyboardMarkup:
    """Under the safety line that answers typed words or media: pass it on, or report."""
    passing = _button(t("btn_pass_note", lang), NoteCb(note_id=note_id))
    return InlineKeyboardMarkup(inline_keyboard=[[passing], [symptom_button(lang)]])


def pause_keyboard(days: tuple[int, ...], lang: str) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(text=plural("n_days", lang, n), callback_data=PauseCb(days=n).pack())
        for n in days
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


def stop_keyboard(lang: str) -> InlineKeyboardMarkup:
    yes = _button(t("btn_stop_yes", lang), StopCb(confirm=True))
    no = _button(t("btn_stop_no", lang), StopCb(confirm=False))
    return InlineKeyboardMarkup(inline_keyboard=[[yes, no]])


def delete_keyboard(lang: str) -> InlineKeyboardMarkup:
    yes = _button(t("btn_delete_yes", lang), DeleteCb(confirm=True))
    no = _button(t("btn_delete_no", lang), DeleteCb(confirm=False))
    return InlineKeyboardMarkup(inline_keyboard=[[yes], [no]])


def settings_text(patient: Patient, clinic_tz: ZoneInfo) -> str:
    """The patient's reminder time, time zone (its city in their language, and its IANA
    name) and language."""
    zone = patient.timezone or clinic_tz.key
    city = city_name(zone, patient.language)
    return t(
        "settings_menu",
        patient.language,
        time=patient.reminder_time,
        tz=zone if city == zone else t("settings_tz_value", patient.language, city=city, zone=zone),
        lang=LANGUAGE_NAMES.get(patient.language, patient.language),
    )


def timezone_keyboard(zones: tuple[str, ...], lang: str, now: datetime) -> InlineKeyboardMarkup:
    """One button per zone, two a row: the city in the patient's language and its offset."""
    buttons = [_button(zone_label(zone, lang, now), TimezoneCb(zone=zone)) for zone in zones]
    return InlineKeyboardMarkup(
        inline_keyboard=[buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    )


def settings_keyboard(lang: str) -> InlineKeyboardMarkup:
    """One button per setting, one per row."""
    rows = [
        [
            InlineKeyboardButton(
                text=t(f"btn_set_{field.value}", lang),
                callback_data=SettingsCb(field=field).pack(),
            )
        ]
        for field in SettingsField
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def reminder_time_keyboard() -> InlineKeyboardMarkup:
    """The offered times, three a row ("0900": a colon is the callback data's separator)."""
    buttons = [
        InlineKeyboardButton(
            text=hhmm, callback_data=ReminderTimeCb(hhmm=hhmm.replace(":", "")).pack()
        )
        for hhmm in REMINDER_CHOICES
    ]
    return InlineKeyboardMarkup(
        inline_keyboard=[buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    )


def language_keyboard() -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(text=LANGUAGE_NAMES[code], callback_data=LanguageCb(lang=code).pack())
        for code in LANGUAGES
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])
