"""The Spanish a clinician signed off (clinical.md, "Spanish wording"): usted throughout, one
word for a check-in ("control"), "molestias" not "agujetas", /enroll is "Registrar a un
paciente". Scans every Spanish text the bot can send — the catalogue, the command menu and
every "es" text of the default protocol — so a banned word cannot come back."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest

from bot import texts
from bot.commands import DESCRIPTIONS
from flows.loader import DEFAULT_PROTOCOL_PATH, load_protocol

#: word (regex, matched case-insensitively on word boundaries) → why it is banned
BANNED: dict[str, str] = {
    r"agujetas?": "muscle soreness after training; after needling it is «molestias»",
    r"(dar|da|dé|dado) de alta": "means discharge; /enroll is «Registrar a un paciente»",
    r"chequeos?": "a check-in is «control»",
    r"check-?ins?": "a check-in is «control»",
    r"cuestionarios?": "a check-in is «control» (one word throughout)",
    r"encuestas?": "a check-in is «control»",
    r"seguimientos? (rápido|semanal|de hoy)": "a check-in is «control», not «seguimiento»",
    # tú forms: the patient is «usted» throughout
    r"tienes": "tú form",
    r"puedes": "tú form",
    r"quieres": "tú form",
    r"necesitas": "tú form",
    r"sientes": "tú form",
    r"notas": "tú form",
    r"debes": "tú form",
    r"estás": "tú form",
    r"eres": "tú form",
    r"has": "tú form (usted: «ha»)",
    r"recuérdame(lo)?": "tú form (usted: «Recuérdemelo»)",
    r"avísame": "tú form",
    r"dime": "tú form",
    r"pulsa": "tú form (usted: «pulse»)",
    r"elige": "tú form (usted: «elija»)",
    r"escribe": "tú form (usted: «escriba»)",
    r"llama": "tú form (usted: «llame»)",
    r"tu": "tú possessive (usted: «su»)",
    r"tus": "tú possessive (usted: «sus»)",
    r"te": "tú pronoun (usted: «le»)",
    r"ti": "tú pronoun",
    r"contigo": "tú pronoun",
}


def _protocol_spanish(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every "es" string of the protocol file, with where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else key
            if key == "es" and isinstance(value, str):
                yield where, value
            else:
                yield from _protocol_spanish(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _protocol_spanish(value, f"{path}[{i}]")


def spanish_texts() -> list[tuple[str, str]]:
    found = [(f"texts._ES[{k}]", v) for k, v in texts._ES.items()]
    found += [(f"commands[{k}]", es) for k, (_, es) in DESCRIPTIONS.items()]
    with DEFAULT_PROTOCOL_PATH.open("rb") as fh:
        found += [(f"protocol {w}", v) for w, v in _protocol_spanish(tomllib.load(fh))]
    return found


def test_the_scan_sees_the_protocol_and_the_catalogue() -> None:
    """A scan that read nothing would pass everything: it sees each source's texts."""
    where = [w for w, _ in spanish_texts()]
    assert sum(w.startswith("texts.") for w in where) == len(texts._ES)
    assert "protocol questions.Q7.prompt.es" in where
    assert any(w.startswith("protocol advice.") for w in where)
    assert any(w.startswith("protocol safety.") for w in where)
    assert "commands[enroll]" in where


@pytest.mark.parametrize(("word", "why"), list(BANNED.items()))
def test_no_banned_word_in_any_spanish_text(word: str, why: str) -> None:
    pattern = re.compile(rf"(?<!\w){word}(?!\w)", re.IGNORECASE)
    offenders = [f"{where}: {text!r}" for where, text in spanish_texts() if pattern.search(text)]
    assert offenders == [], f"«{word}» ({why}) in:\n" + "\n".join(offenders)


def test_the_signed_off_wordings_are_the_ones_used() -> None:
    protocol = load_protocol()
    q = protocol.questions
    assert DESCRIPTIONS["enroll"][1] == "Registrar a un paciente"
    assert texts.t("btn_snooze", "es") == "Recuérdemelo en 1 h"
    assert q["Q7"].prompt.get("es").startswith("¿Hasta qué punto puede")
    assert "0 = no puedo hacerla" in q["Q7"].prompt.get("es")
    assert "alrededor de los genitales o del ano" in q["Q6"].prompt.get("es")
    assert q["Q2"].prompt.get("es").startswith("¿Qué intensidad ha tenido")
    assert ", de media," in q["Q2"].prompt.get("es")
    leg = q["Q4"].choices[q["Q4"].choice_index("leg_weakness")].text.get("es")
    assert "el pie se arrastra o se engancha al caminar" in leg
    assert "dolor punzante o que va a más" in protocol.safety["exercise_safety"].get("es")
    assert "molestias" in texts.t("consent", "es", emergency="112")
    for key in ("nudge", "checkin_closed", "consent_agreed"):
        assert re.search(r"\bcontrol\b", texts.t(key, "es", emergency="112")), key
