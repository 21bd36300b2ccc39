"""The protocol file: the bundled default, and every kind of broken file.

Broken files are the default file with one targeted edit, so each test shows
exactly which mistake it makes and that the one-line error names the file,
the entry and the problem.
"""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from flows.conditions import RegionIs
from flows.loader import DEFAULT_PROTOCOL_PATH, ProtocolError, load_protocol, loinc_is_valid
from flows.protocol import AfterSession, CourseWeekly, Dosage, OnDemand, OnWeekday, Protocol
from flows.text import CLINIC_PLACEHOLDERS, Text
from tests.support.protocol import DEFAULT_TEXT, write_variant


@pytest.fixture(scope="module")
def protocol() -> Protocol:
    return load_protocol()


# -- the default protocol ---------------------------------------------------------------


def test_default_loads_from_none_and_from_its_path(protocol: Protocol) -> None:
    assert load_protocol(DEFAULT_PROTOCOL_PATH) == protocol
    assert protocol.info.default_language == "en"
    assert protocol.info.languages == ("en", "es")
    assert protocol.info.max_questions_per_checkin == 5
    assert protocol.info.max_activities == 3
    assert protocol.quiet_hours.start == time(21, 0)
    assert protocol.quiet_hours.end == time(8, 0)


def test_default_question_bank(protocol: Protocol) -> None:
    assert list(protocol.questions) == [f"Q{n}" for n in range(1, 10)]
    kinds = {key: q.kind for key, q in protocol.questions.items()}
    assert kinds == {
        "Q1": "scale",
        "Q2": "scale",
        "Q3": "choice",
        "Q4": "multi",
        "Q5": "yes_no",
        "Q6": "yes_no",
        "Q7": "scale",
        "Q8": "choice",
        "Q9": "count",
    }
    assert protocol.questions["Q2"].loinc == "72514-3"
    assert [c.key for c in protocol.questions["Q3"].choices] == [
        "fine",
        "small_bruise",
        "spreading_redness",
        "swelling_or_pus",
        "bleeding_wont_stop",
    ]
    assert [c.key for c in protocol.questions["Q4"].choices] == [
        "nothing_new",
        "numbness_tingling",
        "leg_weakness",
        "felt_faint",
        "fainted",
        "fever_chills",
    ]
    q4 = protocol.questions["Q4"]
    assert [c.key for c in q4.choices if c.exclusive] == ["nothing_new"]
    assert q4.counts_after_minutes == 10
    assert q4.max_value == 2**6 - 1
    assert len(protocol.questions["Q8"].choices) == 7
    assert protocol.questions["Q8"].choices[0].key == "very_much_worse"
    assert protocol.questions["Q8"].choices[-1].key == "very_much_better"
    assert protocol.questions["Q7"].per_activity
    assert protocol.questions["Q7"].better == "higher"
    assert protocol.questions["Q2"].better == "lower"
    assert protocol.questions["Q9"].max_value == 7
    assert protocol.questions["Q1"].max_value == 10
    names = [q.name for q in protocol.questions.values()]
    assert len(set(names)) == len(names)


def test_default_checkins(protocol: Protocol) -> None:
    assert list(protocol.checkins) == [
        "h3",
        "h24",
        "h48",
        "h72",
        "weekly",
        "adherence",
        "symptom",
    ]
    offsets = {
        c.key: c.schedule.offset.total_seconds() / 3600
        for c in protocol.session_checkins()
        if isinstance(c.schedule, AfterSession)
    }
    assert offsets == {"h3": 3, "h24": 24, "h48": 48, "h72": 72}
    h3 = protocol.checkin("h3").schedule
    assert isinstance(h3, AfterSession)
    assert (h3.evening_from, h3.not_after) == (time(18), time(21))
    assert h3.evening_offset is not None and h3.evening_offset.total_seconds() == 1.5 * 3600
    h24 = protocol.checkin("h24").schedule
    assert isinstance(h24, AfterSession) and h24.window == (time(9), time(11))
    assert protocol.checkin("h72").conditional
    assert not any(protocol.checkin(k).conditional for k in ("h3", "h24", "h48", "weekly"))
    weekly = protocol.checkin("weekly").schedule
    assert isinstance(weekly, CourseWeekly)
    assert weekly.every_days == 7 and weekly.day_before_next_session
    adherence = protocol.checkin("adherence").schedule
    assert isinstance(adherence, OnWeekday) and adherence.weekday == 6 and adherence.at is None
    for checkin in protocol.checkins.values():
        assert checkin.routine == (checkin.key != "symptom")  # a warning sign never waits
        assert checkin.superseded_by_new_session == (checkin.key in {"h3", "h24", "h48", "h72"})
        assert sum(not e.optional for e in checkin.questions) <= 5


def test_symptom_checkin_is_on_demand_with_the_red_flag_questions(protocol: Protocol) -> None:
    symptom = protocol.checkin("symptom")
    assert isinstance(symptom.schedule, OnDemand) and protocol.on_demand_checkin() is symptom
    assert [e.question for e in symptom.questions] == ["Q4", "Q3", "Q5", "Q6"]
    q5 = symptom.questions[2].guard.any_of
    assert q5 == (RegionIs("TRUNK", within_hours=72.0),) and symptom.looks_at_recent_sessions
    assert not any(c.looks_at_recent_sessions for c in protocol.session_checkins())
    assert symptom not in protocol.session_checkins()  # never planned
    assert not symptom.routine and symptom.nudge_after is None


def test_default_regions_and_tags(protocol: Protocol) -> None:
    tags = {key: region.tag for key, region in protocol.regions.items()}
    assert tags == {
        "piriformis": "LOWER",
        "glute_med_min": "LOWER",
        "hamstrings": "LOWER",
        "lumbar_below_l1": "LOWER",
        "hip_flexors": "LOWER",
        "lumbar_at_above_l1": "TRUNK",
        "thoracic": "TRUNK",
        "neck_shoulder": "TRUNK",
        "other": "TRUNK",
    }
    assert protocol.region_tags(["piriformis", "thoracic"]) == {"LOWER", "TRUNK"}


def test_default_exercise_library_and_cadence(protocol: Protocol) -> None:
    by_category: dict[str, set[str]] = {}
    for key, exercise in protocol.exercises.items():
        by_category.setdefault(exercise.category, set()).add(key)
    assert by_category["stretch"] == {
        "piriformis_stretch",
        "hamstring_stretch",
        "hip_flexor_stretch",
    }
    assert by_category["strength"] == {
        "clamshell",
        "side_lying_hip_abduction",
        "wall_press",
        "glute_bridge",
        "single_leg_bridge",
        "banded_side_step",
        "side_plank",
        "hip_hitch",
        "single_leg_squat",
    }
    assert by_category["movement"] == {"sitting_breaks", "walking", "walk_run", "easy_run"}
    for key in by_category["stretch"]:
        assert protocol.exercises[key].days == tuple(range(7))
    for key in by_category["strength"]:
        assert protocol.exercises[key].days == (0, 2, 4)
    assert protocol.exercises["glute_bridge"].next == "single_leg_bridge"
    # walking → return to running, a progression of three
    assert protocol.exercises["walking"].next == "walk_run"
    assert protocol.exercises["walk_run"].next == "easy_run"
    assert protocol.exercises["easy_run"].next is None
    assert protocol.exercises["piriformis_stretch"].dosage == Dosage(
        sets=2, amount=30, unit="seconds", each_side=True, step=5
    )
    assert protocol.exercises["glute_bridge"].dosage == Dosage(sets=2, amount=10, unit="reps")
    assert protocol.exercises["sitting_breaks"].dosage == Dosage(
        sets=8, amount=2, unit="minutes", step=1
    )
    for exercise in protocol.exercises.values():
        for lang in ("en", "es"):
            lines = exercise.instructions.get(lang).splitlines()
            assert 3 <= len(lines) <= 5, (exercise.key, lang)
    plan = protocol.exercise_plan
    assert plan.reminder_time == time(18, 0)
    assert plan.daily_weeks == 4
    assert plan.later_days == (0, 2, 4)
    assert (plan.picks_min, plan.picks_max) == (3, 5)
    assert plan.default_programme == (
        "piriformis_stretch",
        "hamstring_stretch",
        "hip_flexor_stretch",
        "clamshell",
        "glute_bridge",
    )


def test_default_thresholds(protocol: Protocol) -> None:
    t, p = protocol.triage, protocol.progress
    assert t.urgent_callback_min == 9
    assert t.soon_q1_24h == 7
    assert t.soon_q1_48h == 4
    assert t.soon_q1_72h == 4
    assert t.baseline_rise == 2
    assert t.trunk_window_hours == 72
    assert t.missed_checkins_window_hours == 48
    assert t.missed_consecutive == 2
    assert t.adherence_fraction == 0.5
    assert p.responder_drop == 2
    assert p.responder_fraction == 0.30
    assert (p.stall_session, p.stall_week) == (4, 3)
    assert (p.reevaluate_sessions, p.reevaluate_weeks) == (6, 6)
    assert (p.plateau_readings, p.plateau_move, p.plateau_floor) == (3, 1, 2)
    assert p.recovered_max == 1
    assert p.progress_min_hours_after_session == 72
    assert p.stall_q8_min == "much_better"


def test_every_patient_text_is_in_english_and_spanish(protocol: Protocol) -> None:
    texts = protocol.patient_texts()
    assert len(texts) > 80
    for text in texts:
        assert set(text.languages) == {"en", "es"}, text
        assert text.get("en") != "" and text.get("es") != ""


def test_spanish_differs_from_english_where_words_are_shown(protocol: Protocol) -> None:
    same = [t.get("en") for t in protocol.patient_texts() if t.get("en") == t.get("es")]
    # Only words that are the same in both languages ("No") may repeat.
    assert set(same) <= {"No"}


def test_buttons_fit_a_phone(protocol: Protocol) -> None:
    buttons = [protocol.yes, protocol.no] + [r.label for r in protocol.regions.values()]
    for question in protocol.questions.values():
        if question.kind != "multi":
            buttons += [c.text for c in question.choices]
    for button in buttons:
        for _lang, label in button.items:
            assert len(label) <= 32, label
    # a multi question shows one choice per row, with "☑ " in front
    for choice in protocol.questions["Q4"].choices:
        for _lang, label in choice.text.items:
            assert len(label) <= 80, label
    for question in protocol.questions.values():
        for _lang, prompt in question.prompt.items:
            assert len(prompt) <= 250


def test_safety_texts_cover_items_1_to_7_and_render(protocol: Protocol) -> None:
    values = {"emergency_number": "911", "clinic_phone": "+1 555 0100", "clinic_name": "Clinic"}
    for key in (
        "not_emergency",
        "no_diagnosis",
        "what_is_normal",
        "emergency_signs",
        "same_day_signs",
        "alerts_and_data",
        "exercise_safety",
        "urgent_now",
        "callback",
        "soon",
        "free_text",
    ):
        text = protocol.safety[key]
        assert text.placeholders() <= CLINIC_PLACEHOLDERS
        for lang in ("en", "es"):
            rendered = text.render(lang, **values)
            assert "{" not in rendered
    assert "911" in protocol.safety["not_emergency"].render("es", **values)
    assert "2 days" in protocol.safety["emergency_signs"].get("en")
    assert "aftercare" in protocol.advice


def test_text_get_falls_back_to_default_and_base_language() -> None:
    text = Text.of(en="Yes", es="Sí")
    assert text.get("es") == "Sí"
    assert text.get("es-MX") == "Sí"
    assert text.get("fr") == "Yes"
    assert text.get(None) == "Yes"
    with pytest.raises(KeyError):
        Text.of(en="Call {clinic_phone}").render("en")


def test_loinc_check_digit() -> None:
    assert loinc_is_valid("72514-3")
    assert loinc_is_valid("8867-4")
    assert not loinc_is_valid("72514-4")
    assert not loinc_is_valid("72514")


# -- broken files ----------------------------------------------------------------------


H3_HEAD = '[checkins.h3]\nschedule = "after_session"\noffset_hours = 3\n'
H24_QUESTIONS = """questions = [
  "Q1",
  { ask = "Q2", optional = true },
  "Q3","""
H72_WHEN = '{ answer = "Q1", at = "h48", at_least = 4 },'
Q5_PROMPT_EN = (
    'prompt.en = "Do you have chest pain, pain on a deep breath, shortness of breath'
    ' or a new dry cough?"\n'
)

BROKEN: list[tuple[str, str, str, str, str]] = [
    # (id, old, new, entry, problem)
    (
        "toml-syntax",
        "[quiet_hours]\n",
        "[quiet_hours\n",
        "line ",
        "invalid TOML",
    ),
    (
        "toml-duplicate-key",
        H3_HEAD,
        H3_HEAD + "offset_hours = 4\n",
        "line ",
        "duplicate key",
    ),
    (
        "unknown-key",
        H3_HEAD,
        H3_HEAD.replace("offset_hours", "ofset_hours"),
        'checkin "h3"',
        'unknown key "ofset_hours"; did you mean "offset_hours"?',
    ),
    (
        "unknown-section",
        "[quiet_hours]\n",
        "[quiet_hour]\n",
        "top level",
        'unknown key "quiet_hour"',
    ),
    (
        "misspelt-section",
        "[triage]\n",
        "[triage_numbers]\n",
        "top level",
        'unknown key "triage_numbers"',
    ),
    (
        "missing-key",
        'expires_at_local = "22:00"\nnudge_after_hours = 1\nsuperseded_by_new_session = true\n'
        "routine = true\n",
        'expires_at_local = "22:00"\nnudge_after_hours = 1\nsuperseded_by_new_session = true\n',
        'checkin "h3"',
        'missing key "routine"',
    ),
    (
        "wrong-type",
        H3_HEAD,
        H3_HEAD.replace("offset_hours = 3", 'offset_hours = "3"'),
        'checkin "h3"',
        '"offset_hours" must be a number, got a string',
    ),
    (
        "bool-is-not-a-number",
        "max_activities = 3\n",
        "max_activities = true\n",
        "[protocol]",
        '"max_activities" must be a whole number, got a boolean',
    ),
    (
        "integer-out-of-range",
        "urgent_callback_min = 9\n",
        "urgent_callback_min = 11\n",
        "[triage]",
        '"urgent_callback_min" must be between 0 and 10, got 11',
    ),
    (
        "fraction-out-of-range",
        "responder_fraction = 0.30\n",
        "responder_fraction = 1.5\n",
        "[progress]",
        '"responder_fraction" must be between 0 and 1, got 1.5',
    ),
    (
        "negative-offset",
        H3_HEAD,
        H3_HEAD.replace("offset_hours = 3", "offset_hours = -3"),
        'checkin "h3"',
        '"offset_hours" must be greater than 0',
    ),
    (
        "question-not-in-bank",
        H24_QUESTIONS,
        H24_QUESTIONS.replace('"Q3",', '"Q10",'),
        'checkin "h24"',
        'question "Q10" is not in the question bank',
    ),
    (
        "question-listed-twice",
        H24_QUESTIONS,
        H24_QUESTIONS.replace('"Q3",', '"Q1",'),
        'checkin "h24"',
        'question "Q1" is listed twice',
    ),
    (
        "more-than-five-questions",
        '{ ask = "Q2", optional = true },',
        '"Q2",',
        'checkin "h24"',
        "asks up to 6 questions that are not optional; at most 5",
    ),
    (
        "missing-default-language",
        Q5_PROMPT_EN,
        "",
        'question "Q5"',
        'text "prompt" has no "en" (default language) text',
    ),
    (
        "unknown-language",
        'yes = { en = "Yes", es = "Sí" }',
        'yes = { en = "Yes", es = "Sí", fr = "Oui" }',
        "[ui]",
        'text "yes": language "fr" is not in [protocol] languages',
    ),
    (
        "unknown-placeholder",
        'In an emergency, call {emergency_number}."\nnot_emergency.es',
        'In an emergency, call {emergency_numbr}."\nnot_emergency.es',
        "[safety]",
        'text "not_emergency" ("en"): unknown placeholder {emergency_numbr}',
    ),
    (
        "placeholder-in-a-question",
        'prompt.en = "On how many days this week did you do your exercises?"',
        'prompt.en = "On how many days this week did you do your {clinic_name} exercises?"',
        'question "Q9"',
        "unknown placeholder {clinic_name}; allowed: none",
    ),
    (
        "safety-text-without-emergency-number",
        'In an emergency, call {emergency_number}."\nnot_emergency.es',
        'In an emergency, call your doctor."\nnot_emergency.es',
        "[safety]",
        'text "not_emergency" ("en") must show {emergency_number}',
    ),
    (
        "per-activity-prompt-without-activity",
        "How well can you do this now: {activity}?",
        "How well can you do this now?",
        'question "Q7"',
        'text "prompt" ("en") of a per-activity question must use {activity}',
    ),
    (
        "bad-time-format",
        'start = "21:00"',
        'start = "9pm"',
        "[quiet_hours]",
        '"start" = "9pm" is not a time "HH:MM"',
    ),
    (
        "hour-24",
        'not_after = "21:00"',
        'not_after = "24:00"',
        'checkin "h3"',
        '"not_after" = "24:00" is not a time "HH:MM"',
    ),
    (
        "window-reversed",
        'window = ["09:00", "11:00"]',
        'window = ["11:00", "09:00"]',
        'checkin "h24"',
        '"window" start 11:00 must be before its end 09:00',
    ),
    (
        "window-in-quiet-hours",
        'window = ["09:00", "11:00"]',
        'window = ["07:00", "09:00"]',
        'checkin "h24"',
        '"window" 07:00–09:00 overlaps quiet hours 21:00–08:00',
    ),
    (
        "window-with-not-after",
        'window = ["09:00", "11:00"]',
        'window = ["09:00", "11:00"]\nnot_after = "12:00"',
        'checkin "h24"',
        '"window" and "not_after" cannot be combined',
    ),
    (
        "evening-rule-half-given",
        "evening_offset_hours = 1.5\n",
        "",
        'checkin "h3"',
        '"evening_from" and "evening_offset_hours" go together',
    ),
    (
        "weekly-time-in-quiet-hours",
        'at = "10:00"',
        'at = "22:00"',
        'checkin "weekly"',
        '"at" = "22:00" is inside quiet hours',
    ),
    (
        "quiet-hours-empty",
        'end = "08:00"',
        'end = "21:00"',
        "[quiet_hours]",
        '"start" and "end" are equal',
    ),
    (
        "no-expiry",
        'expires_at_local = "22:00"\n',
        "",
        'checkin "h3"',
        'needs "expires_after_hours" and/or "expires_at_local"',
    ),
    (
        "nudge-after-expiry",
        "expires_after_hours = 20\nnudge_after_hours = 3\n",
        "expires_after_hours = 20\nnudge_after_hours = 21\n",
        'checkin "h24"',
        '"nudge_after_hours" must be shorter than "expires_after_hours"',
    ),
    (
        "at-unknown-checkin",
        H72_WHEN,
        H72_WHEN.replace('"h48"', '"h36"'),
        'checkin "h72", when_any item 1',
        '"at": check-in "h36" is not defined',
    ),
    (
        "at-not-earlier",
        H72_WHEN,
        H72_WHEN.replace('"h48"', '"h72"'),
        'checkin "h72", when_any item 1',
        '"at": check-in "h72" is not earlier than "h72"',
    ),
    (
        "at-checkin-does-not-ask",
        '{ answer = "Q3", not_in = ["fine", "small_bruise"] },',
        '{ answer = "Q3", at = "h3", not_in = ["fine", "small_bruise"] },',
        'checkin "h72", when_any item 2',
        '"at": check-in "h3" does not ask question "Q3"',
    ),
    (
        "unknown-choice",
        'not_in = ["fine", "small_bruise"]',
        'not_in = ["fine", "bruise"]',
        'checkin "h72", when_any item 2',
        'question "Q3" has no choice "bruise"',
    ),
    (
        "number-test-on-a-choice",
        'not_in = ["fine", "small_bruise"]',
        "at_least = 2",
        'checkin "h72", when_any item 2',
        '"at_least" compares numbers but question "Q3" is a choice question',
    ),
    (
        "two-tests-in-one-condition",
        H72_WHEN,
        H72_WHEN.replace("at_least = 4", "at_least = 4, at_most = 8"),
        'checkin "h72", when_any item 1',
        'needs exactly one test of "at_least", "at_most"',
    ),
    (
        "unknown-region-tag",
        '{ ask = "Q5", when_any = [{ region = "TRUNK" }] },\n]\n\n# T0 + 24 h',
        '{ ask = "Q5", when_any = [{ region = "CHEST" }] },\n]\n\n# T0 + 24 h',
        'checkin "h3", questions item 3, when_any item 1',
        '"region" must be one of "LOWER", "TRUNK", got "CHEST"',
    ),
    (
        "unknown-patient-fact",
        '{ ask = "Q7", when_any = [{ patient = "has_activities" }] },',
        '{ ask = "Q7", when_any = [{ patient = "has_goals" }] },',
        'checkin "weekly", questions item 5, when_any item 1',
        '"patient" must be one of "has_activities", "leg_symptoms", '
        '"logged_nothing_this_week", got "has_goals"',
    ),
    (
        "answer-condition-in-weekly",
        '{ ask = "Q7", when_any = [{ patient = "has_activities" }] },',
        '{ ask = "Q7", when_any = [{ answer = "Q2", at_least = 3 }] },',
        'checkin "weekly", questions item 5, when_any item 1',
        "answer conditions are only allowed in after_session check-ins",
    ),
    (
        "region-bad-tag",
        '[regions.other]\ntag = "TRUNK"',
        '[regions.other]\ntag = "ARM"',
        'region "other"',
        '"tag" must be one of "LOWER", "TRUNK", got "ARM"',
    ),
    (
        "button-too-long",
        'text = { en = "Spreading redness or warmth",',
        'text = { en = "Redness or warmth that is spreading",',
        'question "Q3", choice 3',
        'text "text" ("en") is 35 characters, longer than 32',
    ),
    (
        "prompt-too-long",
        'prompt.en = "How do the needle sites look?"',
        'prompt.en = "' + "How do the needle sites look? " * 10 + '"',
        'question "Q3"',
        'text "prompt" ("en") is 300 characters, longer than 250',
    ),
    (
        "duplicate-choice",
        'key = "small_bruise"',
        'key = "fine"',
        'question "Q3"',
        'choice "fine" is listed twice',
    ),
    (
        "bad-loinc",
        'loinc = "72514-3"',
        'loinc = "72514-4"',
        'question "Q2"',
        '"loinc" = "72514-4" is not a LOINC code',
    ),
    (
        "question-key-too-long",
        "[questions.Q9]",
        "[questions.Q9_exercise_days]",
        'question "Q9_exercise_days"',
        'key "Q9_exercise_days" must match',
    ),
    (
        "bad-weekday",
        'later_days = ["mon", "wed", "fri"]',
        'later_days = ["monday", "wed", "fri"]',
        "[exercise_plan]",
        '"later_days": "monday" is not one of "mon"',
    ),
    (
        "duplicate-weekday",
        'later_days = ["mon", "wed", "fri"]',
        'later_days = ["mon", "wed", "mon"]',
        "[exercise_plan]",
        '"later_days" lists "mon" twice',
    ),
    (
        "unknown-progression",
        'next = "single_leg_bridge"',
        'next = "single_leg_bridges"',
        'exercise "glute_bridge"',
        '"next": exercise "single_leg_bridges" is not defined',
    ),
    (
        "progression-to-itself",
        'next = "single_leg_bridge"',
        'next = "glute_bridge"',
        'exercise "glute_bridge"',
        '"next": exercise "glute_bridge" is not defined',
    ),
    (
        "progression-loop",
        'next = "easy_run"',
        'next = "walking"',
        'exercise "walking"',
        '"next" goes round in a loop: walking → walk_run → walking',
    ),
    (
        "exercise-unknown-category",
        '[exercises.wall_press]\ncategory = "strength"',
        '[exercises.wall_press]\ncategory = "balance"',
        'exercise "wall_press"',
        '"category" must be one of "stretch", "strength", "movement", got "balance"',
    ),
    (
        "exercise-instructions-too-short",
        '"""\nEvery 30 minutes of sitting, stand up and move for the minutes shown.\n'
        "Walk around, or stand and shift your weight from leg to leg.\n",
        '"""\n',
        'exercise "sitting_breaks"',
        'text "instructions" ("en") has 2 lines; write 3–5',
    ),
    (
        "exercise-two-amounts",
        "dosage = { sets = 3, hold_seconds = 20, each_side = true }",
        "dosage = { sets = 3, hold_seconds = 20, reps = 10 }",
        'exercise "side_plank", dosage',
        'give exactly one of "reps", "hold_seconds", "minutes", got "reps", "hold_seconds"',
    ),
    (
        "exercise-no-amount",
        "dosage = { sets = 5, hold_seconds = 10, each_side = true }",
        "dosage = { sets = 5, each_side = true }",
        'exercise "wall_press", dosage',
        "got none",
    ),
    (
        "exercise-dose-out-of-range",
        "dosage = { sets = 8, minutes = 2, step = 1 }",
        "dosage = { sets = 8, minutes = 200, step = 1 }",
        'exercise "sitting_breaks", dosage',
        '"minutes" must be between 1 and 120, got 200',
    ),
    (
        "exercise-too-many-sets",
        "dosage = { sets = 8, minutes = 2, step = 1 }",
        "dosage = { sets = 11, minutes = 2, step = 1 }",
        'exercise "sitting_breaks", dosage',
        '"sets" must be between 1 and 10, got 11',
    ),
    (
        "exercise-no-dosage",
        "dosage = { sets = 5, hold_seconds = 10, each_side = true }\n",
        "",
        'exercise "wall_press"',
        'missing key "dosage"',
    ),
    (
        "exercise-old-dose-key",
        "dosage = { sets = 5, hold_seconds = 10, each_side = true }",
        'dose = { en = "5 × 10 s" }',
        'exercise "wall_press"',
        'unknown key "dose"; did you mean "dosage"?',
    ),
    (
        "default-programme-unknown-exercise",
        'default_programme = ["piriformis_stretch",',
        'default_programme = ["piriformis",',
        "[exercise_plan]",
        '"default_programme": exercise "piriformis" is not defined',
    ),
    (
        "default-programme-too-short",
        '"hamstring_stretch", "hip_flexor_stretch", "clamshell", "glute_bridge"]',
        '"hamstring_stretch"]',
        "[exercise_plan]",
        '"default_programme" lists 2 exercises; picks_min–picks_max is 3–5',
    ),
    (
        "unknown-advice",
        'advice = "bruise_normal"',
        'advice = "bruise_is_normal"',
        "after rule 2",
        'advice "bruise_is_normal" is not defined in [advice]',
    ),
    (
        "after-rule-unknown-question",
        '[[after]]\nquestion = "Q9"',
        '[[after]]\nquestion = "Q99"',
        "after rule 3",
        'question "Q99" is not in the question bank',
    ),
    (
        "default-language-not-listed",
        'default_language = "en"',
        'default_language = "de"',
        "[protocol]",
        '"default_language" "de" is not in "languages"',
    ),
    (
        "stall-q8-unknown-choice",
        'stall_q8_min = "much_better"',
        'stall_q8_min = "better"',
        "[progress]",
        '"stall_q8_min": question "Q8" has no choice "better"',
    ),
    (
        "late-grace-too-long",
        "late_grace_minutes = 60",
        "late_grace_minutes = 181",
        "[quiet_hours]",
        '"late_grace_minutes"',
    ),
    (
        "adherence-unreported-zero",
        "adherence_unreported_weeks = 2",
        "adherence_unreported_weeks = 0",
        "[progress]",
        '"adherence_unreported_weeks"',
    ),
    (
        "within-hours-zero",
        '{ region = "TRUNK", within_hours = 72 }',
        '{ region = "TRUNK", within_hours = 0 }',
        'checkin "symptom"',
        "within_hours",
    ),
    (
        "within-hours-typo",
        '{ region = "TRUNK", within_hours = 72 }',
        '{ region = "TRUNK", within_hours = 720 }',
        'checkin "symptom"',
        "within_hours",
    ),
    (
        "within-hours-misspelt",
        '{ region = "TRUNK", within_hours = 72 }',
        '{ region = "TRUNK", within_hour = 72 }',
        'checkin "symptom"',
        "within_hour",
    ),
    (
        "two-on-demand-checkins",
        'schedule = "weekday"\nweekday = "sun"\nat = "reminder_time"\n',
        'schedule = "on_demand"\n',
        "[checkins]",
        "at most one on_demand check-in",
    ),
    (
        "q4-single-choice",
        'kind = "multi"\ncounts_after_minutes = 10\n',
        'kind = "choice"\n',
        'question "Q4"',
        'must be kind "multi"',
    ),
    (
        "multi-without-minutes",
        "counts_after_minutes = 10\n",
        "",
        'question "Q4"',
        '"counts_after_minutes"',
    ),
    (
        "multi-zero-minutes",
        "counts_after_minutes = 10\n",
        "counts_after_minutes = 0\n",
        'question "Q4"',
        '"counts_after_minutes" must be greater than 0',
    ),
    (
        "exclusive-on-a-single-choice",
        'key = "fine"\n',
        'key = "fine"\nexclusive = true\n',
        'question "Q3", choice 1',
        "exclusive",
    ),
    (
        "condition-on-a-multi-answer",
        '{ answer = "Q3", not_in = ["fine", "small_bruise"] }',
        '{ answer = "Q4", not_in = ["nothing_new"] }',
        'checkin "h72"',
        'question "Q4" takes several choices ("multi")',
    ),
    (
        "question-name-reused",
        'name = "usual_pain"',
        'name = "needle_soreness"',
        'question "Q2"',
        'name "needle_soreness" is already used by question "Q1"',
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "entry", "problem"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_broken_file_names_file_entry_and_problem(
    tmp_path: Path, old: str, new: str, entry: str, problem: str
) -> None:
    path = write_variant(tmp_path, old, new)
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {entry}"), message
    assert problem in message, message
    assert caught.value.file == str(path)


def test_new_numbers_are_optional_with_their_defaults(tmp_path: Path) -> None:
    """late_grace_minutes and adherence_unreported_weeks (issue 10) may be left out of a
    clinic's older protocol file: the defaults of the default protocol apply."""
    path = write_variant(tmp_path, "late_grace_minutes = 60\n", "")
    path.write_text(
        path.read_text(encoding="utf-8").replace("adherence_unreported_weeks = 2\n", ""),
        encoding="utf-8",
    )
    protocol = load_protocol(path)
    assert protocol.quiet_hours.late_grace == timedelta(minutes=60)
    assert protocol.progress.adherence_unreported_weeks == 2
    shorter = load_protocol(
        write_variant(tmp_path, "late_grace_minutes = 60", "late_grace_minutes = 0")
    )
    assert shorter.quiet_hours.late_grace == timedelta(0)


def test_question_not_in_bank_message_is_exact(tmp_path: Path) -> None:
    path = write_variant(tmp_path, H24_QUESTIONS, H24_QUESTIONS.replace('"Q3",', '"Q10",'))
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    assert str(caught.value) == f'{path}: checkin "h24": question "Q10" is not in the question bank'


def test_missing_section(tmp_path: Path) -> None:
    start = DEFAULT_TEXT.index("# Progress rules")
    end = DEFAULT_TEXT.index("[safety]")
    path = tmp_path / "protocol.toml"
    path.write_text(DEFAULT_TEXT[:start] + DEFAULT_TEXT[end:], encoding="utf-8")
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    assert str(caught.value) == f'{path}: top level: missing key "progress"'


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    assert str(caught.value).startswith(f"{path}: cannot read the file")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "protocol.toml"
    path.write_bytes(b"\xff\xfe[protocol]")
    with pytest.raises(ProtocolError, match="is not UTF-8 text"):
        load_protocol(path)


def test_a_valid_edit_loads(tmp_path: Path) -> None:
    """A clinic changing a number gets that number, nothing else changes."""
    path = write_variant(tmp_path, "soon_q1_24h = 7\n", "soon_q1_24h = 6\n")
    changed = load_protocol(path)
    assert changed.triage.soon_q1_24h == 6
    assert changed.questions == load_protocol().questions


def _block(key: str) -> str:
    """The default file's whole `[exercises.<key>]` table, up to the next table."""
    start = DEFAULT_TEXT.index(f"[exercises.{key}]\n")
    return DEFAULT_TEXT[start : DEFAULT_TEXT.index("\n[", start) + 1]


def test_a_clinic_adds_changes_and_removes_exercises(tmp_path: Path) -> None:
    """A clinic's PROTOCOL_FILE is the whole protocol: its [exercises] is the library, so it
    can add an exercise, change one's dosage and remove one nothing else names."""
    added = (
        "[exercises.heel_raise]\n"
        'category = "strength"\n'
        'days = ["tue", "thu"]\n'
        'name = { en = "Heel raise", es = "Elevación de talones" }\n'
        "dosage = { sets = 3, reps = 15 }\n"
        'instructions.en = """\nStand holding a chair.\nRise onto your toes, lower slowly.\n'
        'Stop if you feel sharp or worsening pain.\n"""\n\n'
    )
    text = DEFAULT_TEXT.replace(_block("banded_side_step"), added).replace(
        "dosage = { sets = 3, hold_seconds = 20, each_side = true }",
        "dosage = { sets = 2, hold_seconds = 15, each_side = true }",
    )
    path = tmp_path / "clinic.toml"
    path.write_text(text, encoding="utf-8")
    clinic = load_protocol(path)
    assert "banded_side_step" not in clinic.exercises
    assert clinic.exercises["heel_raise"].days == (1, 3)
    assert clinic.exercises["heel_raise"].instructions.get("es").startswith("Stand holding")
    assert clinic.exercises["side_plank"].dosage == Dosage(
        sets=2, amount=15, unit="seconds", each_side=True, step=5
    )


def test_removing_an_exercise_another_progresses_to_names_that_one(tmp_path: Path) -> None:
    path = tmp_path / "clinic.toml"
    path.write_text(DEFAULT_TEXT.replace(_block("single_leg_bridge"), ""), encoding="utf-8")
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    assert str(caught.value) == (
        f'{path}: exercise "glute_bridge": "next": exercise "single_leg_bridge" is not defined'
    )


def test_removing_an_exercise_of_the_default_programme_is_named(tmp_path: Path) -> None:
    path = tmp_path / "clinic.toml"
    path.write_text(DEFAULT_TEXT.replace(_block("clamshell"), ""), encoding="utf-8")
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    assert str(caught.value) == (
        f'{path}: [exercise_plan]: "default_programme": exercise "clamshell" is not defined'
    )
