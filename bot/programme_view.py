"""How an exercise of a patient's home programme reads: its dosage in words, and the
block of name, dosage and instructions that /exercises, the reminder and a programme
change show (patient texts, EN + ES, from bot/texts.py)."""

from __future__ import annotations

from aiogram import html

from bot.texts import Raw, t
from flows.protocol import Dosage, Exercise


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
