"""How an exercise's dosage and instructions read to a patient, in English and Spanish."""

from __future__ import annotations

from bot.programme_view import dose_text, exercise_card
from flows.loader import load_protocol
from flows.protocol import Dosage

PROTOCOL = load_protocol()


def test_dose_in_words() -> None:
    stretch = PROTOCOL.exercises["piriformis_stretch"]
    assert dose_text(stretch.dosage, 7, "en") == "2 × 30 s each side, every day"
    assert dose_text(stretch.dosage, 7, "es") == "2 × 30 s por cada lado, todos los días"
    bridge = PROTOCOL.exercises["glute_bridge"]
    assert dose_text(bridge.dosage, 3, "en") == "2 × 10, 3 days a week"
    assert dose_text(bridge.dosage, 3, "es") == "2 × 10, 3 días a la semana"
    walk = PROTOCOL.exercises["walking"]
    assert dose_text(walk.dosage, 5, "en") == "20 min, 5 days a week"
    assert dose_text(Dosage(sets=8, amount=2, unit="minutes"), 1, "es") == (
        "8 × 2 min, una vez a la semana"
    )


def test_card_has_name_dose_and_instructions() -> None:
    bridge = PROTOCOL.exercises["glute_bridge"]
    card = exercise_card(bridge, bridge.dosage, "es")
    assert card.startswith("<b>Puente de glúteos</b>: 2 × 10, 3 días a la semana\nTúmbese")
    assert "Pare si nota dolor punzante o que va a más." in card
