"""The front desk's new screens as they read, in English and in Spanish (issue 14 items
7, 8 and 10): plain data in, rendered words out."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.desk_view import (
    discharge_confirmation,
    matches_text,
    pick_text,
    screening_keyboard,
    screening_summary,
)
from bot.formatting import Style
from bot.texts import t
from care.records import StillOpen
from store.models import Alert, Patient

MADRID = ZoneInfo("Europe/Madrid")
RAISED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def patient(**values: object) -> Patient:
    return Patient(id=7, display_name="Zoë <O'Brien>", therapist_id=1, baseline_pain=6,
                   created_at=RAISED, **values)  # fmt: skip


def open_items() -> StillOpen:
    callback = Alert(id=1, patient_id=7, therapist_id=1, tier="urgent_callback",
                     reason_key="pain_9_10", created_at=RAISED, updated_at=RAISED)  # fmt: skip
    acked = Alert(id=2, patient_id=7, therapist_id=1, tier="soon", reason_key="talk",
                  created_at=RAISED, updated_at=RAISED, acknowledged_at=RAISED)  # fmt: skip
    return StillOpen(patient=patient(), alerts=[callback, acked], open_checkins=1,
                     planned_checkins=3)  # fmt: skip


def test_discharge_confirmation_lists_what_is_open_in_english_and_spanish() -> None:
    text, keyboard = discharge_confirmation(open_items(), Style("en_GB", MADRID))
    assert text.splitlines()[:6] == [
        "Discharge <b>Zoë &lt;O'Brien&gt;</b> (#7)?",
        "<b>Still open:</b>",
        "• URGENT callback alert raised Mon 23 Nov, 13:00, not acknowledged yet",
        "• SOON alert raised Mon 23 Nov, 13:00, acknowledged, call back not done yet",
        "• 1 check-in sent and not answered yet",
        "• 3 check-ins planned",
    ]
    assert [b.text for b in keyboard.inline_keyboard[0]] == [
        "Yes, discharge",
        "No, keep in follow-up",
    ]
    assert [b.callback_data for b in keyboard.inline_keyboard[0]] == ["dcc:y:7", "dcc:n:7"]
    text, keyboard = discharge_confirmation(open_items(), Style("es_ES", MADRID))
    assert text.splitlines()[:5] == [
        "¿Dar el alta a <b>Zoë &lt;O'Brien&gt;</b> (n.º 7)?",
        "<b>Sigue pendiente:</b>",
        "• Alerta URGENTE (llamada) del lun, 23 nov, 13:00, aún sin confirmar",
        "• Alerta PRONTO del lun, 23 nov, 13:00, confirmada, falta devolver la llamada",
        "• 1 control enviado sin respuesta",
    ]
    assert "mensaje de cierre con sus ejercicios" in text
    assert [b.text for b in keyboard.inline_keyboard[0]] == [
        "Sí, dar el alta",
        "No, mantener el seguimiento",
    ]


def test_discharge_with_nothing_open_says_so() -> None:
    quiet = StillOpen(patient=patient(), alerts=[], open_checkins=0, planned_checkins=0)
    assert (
        "Nothing is open: no alert waits, no check-in is pending."
        in (discharge_confirmation(quiet, Style("en_GB", MADRID))[0])
    )
    assert "No hay nada pendiente" in discharge_confirmation(quiet, Style("es_ES", MADRID))[0]


def test_screening_step_and_summary_in_english_and_spanish() -> None:
    rows = screening_keyboard(["pregnancy"], "es").inline_keyboard
    assert [[b.text for b in row] for row in rows] == [
        ["☐ Toma anticoagulantes"],
        ["☑ Embarazada"],
        ["☐ Diabetes o inmunodepresión"],
        ["☐ Primera punción seca"],
        ["Nada de esto", "Hecho"],
    ]
    for key in ("enroll_legs", "enroll_screening"):  # enrolling is never "dar de alta"
        assert "de alta" not in t(key, "es", name="Ana").lower()
    screened = patient(screening=["anticoagulants", "first_needling"], leg_symptoms=True)
    assert screening_summary(screened, "en") == (
        "<b>Screening:</b> ⚠️ Takes anticoagulants, First-ever dry needling · "
        "buttock or leg symptoms"
    )
    assert screening_summary(screened, "es") == (
        "<b>Cribado:</b> ⚠️ Toma anticoagulantes, Primera punción seca · síntomas en glúteo o pierna"
    )
    assert screening_summary(patient(screening=[]), "en") == (
        "<b>Screening:</b> none of these · no buttock or leg symptoms"
    )
    assert screening_summary(patient(), "es") == "<b>Cribado:</b> no registrado"


def test_picker_and_search_answers_in_english_and_spanish() -> None:
    assert pick_text("discharge_pick", "en", 1, 60).endswith(
        "60 patients, page 2 of 8. Tap a name, or type part of a name to find it."
    )
    assert pick_text("session_pick", "es", 0, 9).endswith(
        "9 pacientes, página 1 de 2. Toque un nombre o escriba parte de un nombre para buscarlo."
    )
    assert matches_text("en", "zac", 0) == (
        "No patient's name contains “zac”. Type another part of the name."
    )
    assert matches_text("es", "zac", 0) == (
        "Ningún paciente tiene «zac» en el nombre. Escriba otra parte del nombre."
    )
    assert matches_text("es", "an", 12).startswith("12 pacientes coinciden con «an»")
