"""How an exercise's dosage and instructions read to a patient, in English and Spanish."""

from __future__ import annotations

from bot.callbacks import ExerciseLogAction, ExerciseLogCb, MediaCb, ProgrammeAction, ProgrammeCb
from bot.programme_view import dose_text, exercise_card, programme_change_text, reminder_keyboard
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


def test_a_change_reads_in_spanish_with_usted() -> None:
    bridge = PROTOCOL.exercises["glute_bridge"]
    single = PROTOCOL.exercises["single_leg_bridge"]
    text = programme_change_text(
        {"change": "progressed", "exercise": single.key, "sets": 2, "amount": 10},
        single,
        bridge,
        "es",
    )
    assert text.startswith(
        "Su fisioterapeuta le ha hecho avanzar de <b>Puente de glúteos</b> a su siguiente paso:"
        "\n\n<b>Puente a una pierna</b>: 2 × 10 por cada lado, 3 días a la semana\nTúmbese"
    )
    assert text.endswith("Tiene todo su programa en /exercises.")
    removed = programme_change_text(
        {"change": "removed", "exercise": bridge.key}, bridge, None, "es"
    )
    assert removed == (
        "Su fisioterapeuta ha quitado <b>Puente de glúteos</b> de su programa en casa: ya no "
        "tiene que hacerlo."
    )


def test_reminder_buttons_in_spanish() -> None:
    todays = [PROTOCOL.exercises["glute_bridge"]]
    markup = reminder_keyboard(7, todays, {"glute_bridge": {"done"}}, PROTOCOL, "es", snooze=True)
    labels = [[b.text for b in row] for row in markup.inline_keyboard]
    assert labels == [
        ["✅ Puente de glúteos", "😣 Duele demasiado"],
        ["✅ Todos hechos"],
        ["Recuérdemelo en 1 h", "Parar recordatorios de ejercicios"],
    ]
    assert all(
        len((b.callback_data or "").encode()) <= 64 for row in markup.inline_keyboard for b in row
    )


def test_every_programme_button_fits_64_bytes_at_the_largest_ids() -> None:
    big = 2**31 - 1
    for action in ProgrammeAction:
        data = ProgrammeCb(action=action, p=big, i=big, s=big, a=big, k=len(PROTOCOL.exercises))
        assert len(data.pack().encode()) <= 64
    for action in ExerciseLogAction:
        assert len(ExerciseLogCb(action=action, r=big, k=big).pack().encode()) <= 64
    assert len(MediaCb(k=big).pack().encode()) <= 64


def test_the_cards_adherence_lines_in_english_and_spanish() -> None:
    """Done / planned days per exercise of the programme, 7 and 28 days, in the reader's
    language (the card of a clinic whose CLINIC_LOCALE is es-ES reads the Spanish)."""
    from bot.therapist_view import adherence_lines
    from care.patient_view import Adherence, ExerciseAdherence

    seen = Adherence(
        per_exercise=[
            ExerciseAdherence(PROTOCOL.exercises["glute_bridge"], (2, 5), (3, 12)),
            ExerciseAdherence(PROTOCOL.exercises["hamstring_stretch"], (0, 1), (7, 28)),
        ],
        days=[],
        logged_any=True,
    )
    assert adherence_lines(seen, "en") == [
        "<b>Home exercises</b>, days done/planned (7 d · 28 d):",
        "• Glute bridge: 2/3 · 5/12",
        "• Hamstring stretch: 0/7 · 1/28",
    ]
    assert adherence_lines(seen, "es") == [
        "<b>Ejercicios en casa</b>, días hechos/previstos (7 d · 28 d):",
        "• Puente de glúteos: 2/3 · 5/12",
        "• Estiramiento de isquiotibiales: 0/7 · 1/28",
    ]
    nothing = Adherence(per_exercise=[], days=[], logged_any=False)
    assert adherence_lines(nothing, "es") == ["<b>Ejercicios en casa:</b> nada registrado aún"]
