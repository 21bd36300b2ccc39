"""The patient texts of issue 10 (late answers, /symptom) exist in English and Spanish
(usted, "control" for a check-in) and are valid Telegram HTML."""

from __future__ import annotations

import pytest

from bot.commands import commands_of
from bot.texts import _EN, _ES, t
from sandbox.botapi.html_check import parse_html

KEYS = ("late_answer_closed", "btn_symptom", "symptom_unavailable")


@pytest.mark.parametrize("key", KEYS)
def test_both_languages_and_valid_html(key: str) -> None:
    assert key in _EN and key in _ES and _EN[key] != _ES[key]
    for lang in ("en", "es"):
        parse_html(t(key, lang, phone="+34 900 <1>", emergency="112"))


def test_spanish_wording() -> None:
    assert (
        "control" in _ES["late_answer_closed"] and "cuestionario" not in _ES["late_answer_closed"]
    )
    assert _ES["btn_symptom"] in _ES["late_answer_closed"]
    assert _EN["btn_symptom"] in _EN["late_answer_closed"]


def test_symptom_leads_the_patient_menu_in_both_languages() -> None:
    assert commands_of("patient", "en")[0] == ("symptom", "Report a new symptom")
    assert commands_of("patient", "es")[0] == ("symptom", "Informar de un síntoma nuevo")
    assert "symptom" not in dict(commands_of("therapist"))
    assert dict(commands_of("staff", "es"))["enroll"] == "Registrar a un paciente"
