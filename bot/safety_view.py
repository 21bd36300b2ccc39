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


def promises_text(protocol: Protocol, settings: Settings, lang: str) -> str:
    """Items 2–7 and the course plan, one headed paragraph each, then the safety line
    (item 1: not an emergency service, the emergency number, the clinic's phone)."""
    values = protocol_values(settings, lang)
    paragraphs = [
        t(
            "promise_line",
            lang,
            title=t(f"promise_{key}", lang),
            text=source[key].render(lang, **values),
        )
        for source, keys in ((protocol.safety, PROMISE_SAFETY), (protocol.advice, PROMISE_ADVICE))
        for key in keys
        if key in source
    ]
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
            t(
                "promise_line",
                lang,
                title=t("promise_emergency_signs", lang),
                text=protocol.safety["emergency_signs"].render(lang, **values),
            )
        )
    return "\n\n".join(lines)
