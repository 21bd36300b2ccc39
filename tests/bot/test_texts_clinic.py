"""The clinic's name in patients' sentences (issue 14, item 2): it never starts a sentence
(a clinic called "physio+" or "our clinic" would read in lower case there), and with no
CLINIC_NAME a Spanish sentence reads "la clínica", never an English default."""

from __future__ import annotations

import re

from bot.texts import _EN, _ES, clinic_of, t
from flows.loader import load_protocol

# a placeholder of the clinic's name where a sentence starts: at the start of the text or
# a line, after . ! ? and a space, or right after ¡ ¿ — with any HTML tags in between
SENTENCE_START = re.compile(r"(?:^|\n|[.!?]\s+|[¡¿])\s*(?:<[^>]+>\s*)*\{clinic(?:_name)?\}")


def test_no_template_starts_a_sentence_with_the_clinic_name() -> None:
    offenders = [
        f"{lang}:{key}"
        for lang, catalogue in (("en", _EN), ("es", _ES))
        for key, template in catalogue.items()
        if SENTENCE_START.search(template)
    ]
    for text in load_protocol().patient_texts():
        for lang, sentence in text.items:
            if SENTENCE_START.search(sentence):
                offenders.append(f"protocol ({lang}): {sentence[:40]}")
    assert offenders == []


def test_the_check_catches_a_sentence_that_starts_with_the_name() -> None:
    for template in (
        "{clinic} has set up …",
        "Welcome! <b>{clinic}</b> has set up …",
        "¡Hola!\n{clinic} le escribe",
        "¡{clinic_name} le saluda!",
    ):
        assert SENTENCE_START.search(template), template
    for template in ("Your therapist at <b>{clinic}</b>.", "con {clinic} ha terminado"):
        assert not SENTENCE_START.search(template), template


def test_a_lower_case_name_stays_inside_the_welcome() -> None:
    for lang, expected in (
        ("en", "Welcome! Your therapist <b>Theo</b> at <b>physio+</b> has set up"),
        ("es", "¡Bienvenido/a! Su fisioterapeuta <b>Theo</b>, de <b>physio+</b>, ha preparado"),
    ):
        assert t("welcome", lang, clinic="physio+", therapist="Theo").startswith(expected)


def test_no_clinic_name_reads_the_clinic_in_the_patients_language() -> None:
    assert clinic_of("", "en") == "the clinic"
    assert clinic_of("", "es") == "la clínica"
    assert clinic_of("physio+", "es") == "physio+"
    discharge = t("discharge_patient", "es", clinic=clinic_of("", "es"), exercises="", safety="")
    assert discharge.startswith("Su seguimiento con la clínica ha terminado.")
    assert "our clinic" not in discharge


def test_every_protocol_text_a_patient_reads_has_its_spanish() -> None:
    """No English fallback inside a Spanish patient's chat from the protocol file."""
    missing = [
        text.get("en")[:50]
        for text in load_protocol().patient_texts()
        if "es" not in text.languages
    ]
    assert missing == []


def test_the_new_patient_texts_have_their_spanish() -> None:
    keys = [
        k
        for k in _EN
        if k.startswith(("session_advice", "checkin_continued", "snooze_stale"))
        or k in ("clinic_unnamed", "consent_agreed", "welcome", "btn_snooze")
    ]
    assert [k for k in keys if k not in _ES] == []
