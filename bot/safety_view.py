"""What the protocol promises the patient, as they read it: the welcome after consent and
/help (clinical.md items 1–7 and what a course looks like), and the message after each
recorded session (the aftercare advice, and the emergency signs again).

The sentences are the protocol's (a clinician signs them off); this module only orders
them and puts a short heading before each.
"""

from __future__ import annotations

from aiogram import html

from bot.config import Settings
from bot.texts import clinic_of, safety_line, t
from flows.protocol import PROMISE_ADVICE, PROMISE_SAFETY, SESSION_ADVICE, Protocol


def protocol_values(settings: Settings, lang: str) -> dict[str, str]:
    """The clinic settings the protocol's texts name ({emergency_number} …)."""
    return {
        "emergency_number": settings.emergency_number,
        "clinic_phone": settings.clinic_phone,
        "clinic_name": clinic_of(settings.clinic_name, lang),
    }


def promises_text(protocol: Protocol, settings: Settings, lang: str, *, line: bool) -> str:
    """Items 2–7 and the course plan, one short paragraph each (the emergency signs marked
    ⚠️), and with `line` the safety line (item 1: not an emergency service, the emergency
    number, the clinic's phone) — /help has it; the welcome follows the consent that
    has just said it."""
    values = protocol_values(settings, lang)
    paragraphs = [
        _marked(key, source[key].render(lang, **values))
        for source, keys in ((protocol.safety, PROMISE_SAFETY), (protocol.advice, PROMISE_ADVICE))
        for key in keys
        if key in source
    ]
    if line:
        paragraphs.append(safety_line(lang, settings.emergency_number, settings.clinic_phone))
    return "\n\n".join(paragraphs)


def session_advice_text(
    protocol: Protocol, settings: Settings, lang: str, *, number: int, signs: bool
) -> str:
    """After session `number`: the aftercare advice, and (`signs`) the emergency signs."""
    values = protocol_values(settings, lang)
    lines = [t("session_advice_title", lang, number=number)]
    lines += [
        html.quote(protocol.advice[key].render(lang, **values))
        for key in SESSION_ADVICE
        if key in protocol.advice
    ]
    if signs:
        lines.append(
            _marked("emergency_signs", protocol.safety["emergency_signs"].render(lang, **values))
        )
    return "\n\n".join(lines)


def _marked(key: str, sentence: str) -> str:
    """A paragraph of the promises: "⚠️" before the emergency signs, "•" before the rest."""
    return f"{'⚠️' if key == 'emergency_signs' else '•'} {html.quote(sentence)}"
