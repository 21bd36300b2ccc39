"""A stored answer read back in words (flows.answers.question_words / stored_answer_words):
what /mydata and the CSV export show instead of "Q7.2" and 5."""

from __future__ import annotations

from flows.answers import question_words, stored_answer_words
from flows.loader import load_protocol

PROTOCOL = load_protocol()


def test_questions_in_english_and_spanish() -> None:
    assert question_words(PROTOCOL, "Q2", "es").startswith("¿Qué intensidad ha tenido su dolor")
    assert question_words(PROTOCOL, "Q2", "en").startswith("Your usual pain")


def test_a_per_activity_answer_names_the_patient_activity() -> None:
    activities = ("Walking the dog", "Running")
    assert question_words(PROTOCOL, "Q7.2", "es", activities) == (
        "¿Hasta qué punto puede hacer ahora esta actividad: Running? 0 = no puedo hacerla, "
        "10 = igual que antes del problema."
    )
    assert question_words(PROTOCOL, "Q7.1", "en", activities).startswith(
        "How well can you do this now: Walking the dog?"
    )
    # an activity the patient no longer has, or no position: the question still reads
    assert "esta actividad: …?" in question_words(PROTOCOL, "Q7.3", "es", activities)
    assert "this now: …?" in question_words(PROTOCOL, "Q7", "en")


def test_answers_in_words() -> None:
    assert stored_answer_words(PROTOCOL, "Q1", 3, "es") == "3/10"
    assert stored_answer_words(PROTOCOL, "Q5", 1, "es") == "Sí"
    assert stored_answer_words(PROTOCOL, "Q3", 1, "en") == "Small bruise"
    assert stored_answer_words(PROTOCOL, "Q4", 0b100010, "es") == (
        "Hormigueo o adormecimiento nuevo, Fiebre o escalofríos"
    )
    assert stored_answer_words(PROTOCOL, "Q7.2", 6, "en") == "6/10"
    assert stored_answer_words(PROTOCOL, "Q8", 5, "es") == "Mucho mejor"
    assert stored_answer_words(PROTOCOL, "Q9", 4, "en") == "4"


def test_keys_the_protocol_lacks_read_as_themselves() -> None:
    """A clinic that removed a question still exports its old answers."""
    assert question_words(PROTOCOL, "Q99", "es") == "Q99"
    assert stored_answer_words(PROTOCOL, "Q99", 4, "es") == "4"
    assert stored_answer_words(PROTOCOL, "Q1", 42, "en") == "42"
