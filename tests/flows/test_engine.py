"""The check-in engine against clinical.md's schedule table, with plain data."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.answers import answer_words, toggle_choice
from flows.engine import (
    LOWER,
    TRUNK,
    PatientContext,
    QuestionRef,
    after_texts,
    answer_options,
    checkin_applies,
    decode_answer,
    encode_answer,
    is_valid_code,
    next_question,
    prompt_text,
    questions_for,
)
from flows.loader import load_protocol
from flows.protocol import Protocol

PROTOCOL: Protocol = load_protocol()
BASELINE = 5
ACTIVITIES = ("sitting for 30 minutes", "climbing stairs", "running 5 km")


def ctx(
    *tags: str,
    activities: tuple[str, ...] = (),
    earlier: Mapping[tuple[str, str], int] | None = None,
    leg_symptoms: bool = False,
    baseline: int = BASELINE,
) -> PatientContext:
    return PatientContext(
        region_tags=frozenset(tags),
        baseline=baseline,
        activities=activities,
        earlier=dict(earlier or {}),
        leg_symptoms=leg_symptoms,
    )


def keys(checkin: str, context: PatientContext) -> list[str]:
    return [ref.key for ref in questions_for(PROTOCOL.checkin(checkin), context)]


TRUNK_ONLY = ctx(TRUNK)
LOWER_ONLY = ctx(LOWER)
MIXED = ctx(TRUNK, LOWER)

# -- clinical.md's schedule table, row by row ------------------------------------------------

SCHEDULE: list[tuple[str, str, PatientContext, list[str]]] = [
    # T0 + 3 h: Q1, Q4; Q5 if TRUNK
    ("h3", "trunk", TRUNK_ONLY, ["Q1", "Q4", "Q5"]),
    ("h3", "lower", LOWER_ONLY, ["Q1", "Q4"]),
    ("h3", "mixed", MIXED, ["Q1", "Q4", "Q5"]),
    ("h3", "lower+activities", ctx(LOWER, activities=ACTIVITIES), ["Q1", "Q4"]),
    # T0 + 24 h: Q1, Q2, Q3, Q4; Q5 if TRUNK; Q6 if buttock/leg symptoms (LOWER)
    ("h24", "trunk", TRUNK_ONLY, ["Q1", "Q2", "Q3", "Q4", "Q5"]),
    ("h24", "lower", LOWER_ONLY, ["Q1", "Q2", "Q3", "Q4", "Q6"]),
    # Six would exceed five: the optional Q2 yields its place to the two safety screens.
    ("h24", "mixed", MIXED, ["Q1", "Q3", "Q4", "Q5", "Q6"]),
    ("h24", "trunk+leg symptoms", ctx(TRUNK, leg_symptoms=True), ["Q1", "Q3", "Q4", "Q5", "Q6"]),
    ("h24", "lower+activities", ctx(LOWER, activities=ACTIVITIES), ["Q1", "Q2", "Q3", "Q4", "Q6"]),
    # T0 + 48 h: Q1, Q2, Q3; Q5 if TRUNK
    ("h48", "trunk", TRUNK_ONLY, ["Q1", "Q2", "Q3", "Q5"]),
    ("h48", "lower", LOWER_ONLY, ["Q1", "Q2", "Q3"]),
    ("h48", "mixed", MIXED, ["Q1", "Q2", "Q3", "Q5"]),
    # T0 + 72 h (when it applies): Q1, Q2, Q3, Q4
    ("h72", "trunk", TRUNK_ONLY, ["Q1", "Q2", "Q3", "Q4"]),
    ("h72", "lower", LOWER_ONLY, ["Q1", "Q2", "Q3", "Q4"]),
    ("h72", "mixed", MIXED, ["Q1", "Q2", "Q3", "Q4"]),
    # weekly: Q2, Q3, Q6, Q8 (+Q7 where set); Q9 is asked by the Sunday adherence check-in
    ("weekly", "trunk", TRUNK_ONLY, ["Q2", "Q3", "Q8"]),
    ("weekly", "lower", LOWER_ONLY, ["Q2", "Q3", "Q6", "Q8"]),
    ("weekly", "mixed", MIXED, ["Q2", "Q3", "Q6", "Q8"]),
    (
        "weekly",
        "trunk+2 activities",
        ctx(TRUNK, activities=ACTIVITIES[:2]),
        ["Q2", "Q3", "Q8", "Q7.1", "Q7.2"],
    ),
    (
        "weekly",
        "lower+3 activities",
        ctx(LOWER, activities=ACTIVITIES),
        ["Q2", "Q3", "Q6", "Q8", "Q7.1", "Q7.2", "Q7.3"],
    ),
    ("adherence", "trunk", TRUNK_ONLY, ["Q9"]),
    ("adherence", "lower+activities", ctx(LOWER, activities=ACTIVITIES), ["Q9"]),
]


@pytest.mark.parametrize(
    ("checkin", "context", "expected"),
    [(row[0], row[2], row[3]) for row in SCHEDULE],
    ids=[f"{row[0]}-{row[1]}" for row in SCHEDULE],
)
def test_schedule_table(checkin: str, context: PatientContext, expected: list[str]) -> None:
    assert keys(checkin, context) == expected


def test_q7_is_expanded_per_activity_with_its_words() -> None:
    refs = questions_for(PROTOCOL.checkin("weekly"), ctx(TRUNK, activities=ACTIVITIES[:2]))
    q7 = [ref for ref in refs if ref.question == "Q7"]
    assert q7 == [
        QuestionRef("Q7.1", "Q7", "sitting for 30 minutes", 1),
        QuestionRef("Q7.2", "Q7", "climbing stairs", 2),
    ]
    assert "sitting for 30 minutes" in prompt_text(PROTOCOL, q7[0], "en")
    assert "climbing stairs" in prompt_text(PROTOCOL, q7[1], "es")
    assert prompt_text(PROTOCOL, QuestionRef("Q1", "Q1"), "es").startswith("¿")


def test_q7_never_exceeds_max_activities() -> None:
    many = ("a", "b", "c", "d", "e")
    refs = questions_for(PROTOCOL.checkin("weekly"), ctx(TRUNK, activities=many))
    assert [r.key for r in refs if r.question == "Q7"] == ["Q7.1", "Q7.2", "Q7.3"]


def test_an_activity_with_braces_is_shown_literally() -> None:
    ref = QuestionRef("Q7.1", "Q7", "lifting {box}", 1)
    assert "lifting {box}" in prompt_text(PROTOCOL, ref, "en")


# -- the 72 h condition on both sides of each threshold ----------------------------------


def calm(**overrides: int) -> dict[tuple[str, str], int]:
    """Earlier answers that do not trigger the 72 h check-in; overrides are "h48_Q1"=4 etc."""
    fine = PROTOCOL.questions["Q3"].choice_index("fine")
    answers = {
        ("h3", "Q1"): 6,
        ("h24", "Q1"): 5,
        ("h24", "Q2"): BASELINE,
        ("h24", "Q3"): fine,
        ("h48", "Q1"): 3,
        ("h48", "Q2"): BASELINE + 1,
        ("h48", "Q3"): fine,
    }
    for name, value in overrides.items():
        checkin, question = name.split("_")
        answers[(checkin, question)] = value
    return answers


def q3(choice: str) -> int:
    return PROTOCOL.questions["Q3"].choice_index(choice)


H72_CASES: list[tuple[str, dict[tuple[str, str], int], bool]] = [
    ("nothing-wrong", calm(), False),
    ("no-answers-at-all", {}, False),
    ("q1-3-at-48h", calm(h48_Q1=3), False),
    ("q1-4-at-48h", calm(h48_Q1=4), True),
    ("q1-9-at-48h", calm(h48_Q1=9), True),
    ("q1-4-at-24h-only-counts-at-48h", calm(h24_Q1=8, h48_Q1=3), False),
    ("q2-baseline+1-at-48h", calm(h48_Q2=BASELINE + 1), False),
    ("q2-baseline+2-at-48h", calm(h48_Q2=BASELINE + 2), True),
    ("q2-baseline+2-at-24h", calm(h24_Q2=BASELINE + 2), True),
    ("q2-below-baseline", calm(h24_Q2=BASELINE - 3, h48_Q2=BASELINE - 3), False),
    ("site-small-bruise", calm(h24_Q3=q3("small_bruise"), h48_Q3=q3("small_bruise")), False),
    ("site-spreading-redness-at-24h", calm(h24_Q3=q3("spreading_redness")), True),
    ("site-swelling-at-48h", calm(h48_Q3=q3("swelling_or_pus")), True),
    ("site-bleeding-at-24h-fine-at-48h", calm(h24_Q3=q3("bleeding_wont_stop")), True),
]


@pytest.mark.parametrize(
    ("earlier", "applies"), [c[1:] for c in H72_CASES], ids=[c[0] for c in H72_CASES]
)
def test_h72_condition(earlier: dict[tuple[str, str], int], applies: bool) -> None:
    h72 = PROTOCOL.checkin("h72")
    context = ctx(LOWER, earlier=earlier)
    assert checkin_applies(h72, context) is applies
    first = next_question(h72, context, {})
    assert (first is not None) is applies


def test_q2_threshold_follows_the_patients_baseline() -> None:
    h72 = PROTOCOL.checkin("h72")
    earlier = calm(h24_Q2=3, h48_Q2=4)
    assert checkin_applies(h72, ctx(LOWER, earlier=earlier, baseline=2))
    assert not checkin_applies(h72, ctx(LOWER, earlier=earlier, baseline=3))


def test_unconditional_checkins_always_apply() -> None:
    for key in ("h3", "h24", "h48", "weekly", "adherence"):
        assert checkin_applies(PROTOCOL.checkin(key), TRUNK_ONLY)


# -- sequencing ---------------------------------------------------------------------------


def test_next_question_walks_the_checkin_in_order() -> None:
    h24 = PROTOCOL.checkin("h24")
    answers: dict[str, int] = {}
    asked = []
    while (ref := next_question(h24, MIXED, answers)) is not None:
        asked.append(ref.key)
        answers[ref.key] = 0
    assert asked == ["Q1", "Q3", "Q4", "Q5", "Q6"]


def test_next_question_with_partial_and_out_of_order_answers() -> None:
    h24 = PROTOCOL.checkin("h24")
    first = next_question(h24, LOWER_ONLY, {"Q1": 3})
    assert first is not None and first.key == "Q2"
    # An old button answered Q4 before Q2/Q3: the remaining ones are asked, in order.
    gap = next_question(h24, LOWER_ONLY, {"Q1": 3, "Q4": 0})
    assert gap is not None and gap.key == "Q2"
    rest = next_question(h24, LOWER_ONLY, {"Q1": 3, "Q2": 4, "Q4": 0})
    assert rest is not None and rest.key == "Q3"
    done = {"Q1": 3, "Q2": 4, "Q3": 0, "Q4": 0, "Q6": 0}
    assert next_question(h24, LOWER_ONLY, done) is None
    # Answers to questions this patient is not asked change nothing.
    assert next_question(h24, LOWER_ONLY, {**done, "Q5": 1}) is None


def test_next_question_through_activities() -> None:
    weekly = PROTOCOL.checkin("weekly")
    context = ctx(TRUNK, activities=ACTIVITIES[:2])
    answers = {"Q2": 4, "Q3": 0, "Q8": 5, "Q7.1": 6}
    ref = next_question(weekly, context, answers)
    assert ref == QuestionRef("Q7.2", "Q7", "climbing stairs", 2)
    assert next_question(weekly, context, {**answers, "Q7.2": 7}) is None


def test_next_question_is_none_when_h72_does_not_apply() -> None:
    assert next_question(PROTOCOL.checkin("h72"), ctx(LOWER, earlier=calm()), {}) is None


TAG_SETS = st.sets(st.sampled_from([TRUNK, LOWER]))
CONTEXTS = st.builds(
    PatientContext,
    region_tags=TAG_SETS.map(frozenset),
    baseline=st.integers(0, 10),
    activities=st.lists(st.text(min_size=1, max_size=20), max_size=3).map(tuple),
    earlier=st.dictionaries(
        st.tuples(st.sampled_from(["h3", "h24", "h48"]), st.sampled_from(["Q1", "Q2", "Q3"])),
        st.integers(0, 4),
    ),
    leg_symptoms=st.booleans(),
)


@given(context=CONTEXTS, checkin=st.sampled_from(list(PROTOCOL.checkins)))
def test_at_most_five_questions_counting_q7_as_one(checkin: str, context: PatientContext) -> None:
    refs = questions_for(PROTOCOL.checkin(checkin), context)
    distinct = {ref.question for ref in refs}
    assert len(distinct) <= 5
    assert len(refs) == len(set(r.key for r in refs))


@given(context=CONTEXTS, checkin=st.sampled_from(list(PROTOCOL.checkins)), data=st.data())
def test_next_question_is_the_first_unanswered(
    checkin: str, context: PatientContext, data: st.DataObject
) -> None:
    definition = PROTOCOL.checkin(checkin)
    refs = questions_for(definition, context)
    answered = data.draw(st.sets(st.sampled_from([r.key for r in refs]))) if refs else set()
    answers = dict.fromkeys(answered, 0)
    expected = next((r for r in refs if r.key not in answers), None)
    if not checkin_applies(definition, context):
        expected = None
    assert next_question(definition, context, answers) == expected


# -- texts after an answer --------------------------------------------------------------------


def test_after_texts() -> None:
    aftercare = PROTOCOL.advice["aftercare"]
    # the aftercare goes once after every session (bot: SESSION_ADVICE), not after Q1 ≥ 5
    assert after_texts(PROTOCOL, "Q1", 5, LOWER_ONLY) == []
    assert after_texts(PROTOCOL, "Q1", 10, LOWER_ONLY) == []
    assert after_texts(PROTOCOL, "Q1", 4, LOWER_ONLY) == [PROTOCOL.advice["soreness_normal"]]
    assert after_texts(PROTOCOL, "Q3", q3("small_bruise"), LOWER_ONLY) == [
        PROTOCOL.advice["bruise_normal"]
    ]
    assert after_texts(PROTOCOL, "Q3", q3("fine"), LOWER_ONLY) == []
    assert after_texts(PROTOCOL, "Q9", 2, LOWER_ONLY) == [PROTOCOL.advice["exercise_encouragement"]]
    assert after_texts(PROTOCOL, "Q9", 5, LOWER_ONLY) == []
    assert after_texts(PROTOCOL, "Q7.2", 1, LOWER_ONLY) == []
    assert "half" in aftercare.get("en") and "mitad" in aftercare.get("es")


# -- answer encoding ---------------------------------------------------------------------------


def test_encode_decode_each_kind() -> None:
    q = PROTOCOL.questions
    assert encode_answer(q["Q1"], 7) == 7
    assert decode_answer(q["Q1"], 7) == 7
    assert encode_answer(q["Q9"], 0) == 0
    assert encode_answer(q["Q5"], True) == 1
    assert encode_answer(q["Q5"], "no") == 0
    assert decode_answer(q["Q6"], 1) is True
    assert encode_answer(q["Q3"], "fine") == 0
    assert encode_answer(q["Q8"], "very_much_better") == 6
    assert decode_answer(q["Q8"], 5) == "much_better"
    assert decode_answer(q["Q8"], 2) == "a_little_worse"
    # multi: a bitmask of the chosen indexes, decoded in the protocol's order
    assert encode_answer(q["Q4"], "leg_weakness") == 1 << 2
    assert encode_answer(q["Q4"], ("fever_chills", "leg_weakness")) == (1 << 2) | (1 << 5)
    assert decode_answer(q["Q4"], (1 << 5) | (1 << 2)) == ("leg_weakness", "fever_chills")
    assert decode_answer(q["Q4"], 1) == ("nothing_new",)


@pytest.mark.parametrize(
    ("mask", "valid"),
    [
        (0, False),  # nothing chosen is not an answer
        (1, True),  # nothing new alone
        (1 | 2, False),  # nothing new with something else
        (2 | 4, True),
        (2**6 - 2, True),  # every symptom
        (2**6, False),  # a choice Q4 does not have
        (-1, False),
    ],
)
def test_multi_codes(mask: int, valid: bool) -> None:
    assert is_valid_code(PROTOCOL.questions["Q4"], mask) is valid


def test_toggling_a_multi_choice() -> None:
    q4 = PROTOCOL.questions["Q4"]
    nothing, numb, weak, _near, _faint, fever = range(6)
    mask = toggle_choice(q4, 0, weak)
    assert mask == 1 << weak
    mask = toggle_choice(q4, mask, fever)
    assert decode_answer(q4, mask) == ("leg_weakness", "fever_chills")
    assert toggle_choice(q4, mask, fever) == 1 << weak  # tapped again: cleared
    assert toggle_choice(q4, mask, nothing) == 1 << nothing  # "Nothing new" clears the others
    assert toggle_choice(q4, 1 << nothing, numb) == 1 << numb  # …and any other clears it
    with pytest.raises(ValueError):
        toggle_choice(q4, 0, 6)
    with pytest.raises(ValueError):
        toggle_choice(PROTOCOL.questions["Q3"], 0, 1)


def test_multi_words_and_options() -> None:
    q4 = PROTOCOL.questions["Q4"]
    code = encode_answer(q4, ("leg_weakness", "fever_chills"))
    assert (
        answer_words(PROTOCOL, q4, code, "en")
        == "New leg weakness or foot catching, Fever or chills"
    )
    assert answer_words(PROTOCOL, q4, code, "es").endswith("Fiebre o escalofríos")
    assert [o.code for o in answer_options(PROTOCOL, q4)] == [1, 2, 4, 8, 16, 32]
    assert answer_words(PROTOCOL, PROTOCOL.questions["Q1"], 7, "en") == "7/10"


@pytest.mark.parametrize(
    ("question", "value"),
    [
        ("Q1", 11),
        ("Q1", -1),
        ("Q1", True),
        ("Q1", "7"),
        ("Q9", 8),
        ("Q5", 1),
        ("Q5", "maybe"),
        ("Q3", "pus"),
        ("Q3", 0),
        ("Q4", "nothing_at_all"),
        ("Q4", ()),
        ("Q4", ("nothing_new", "fever_chills")),
        ("Q4", 4),
    ],
)
def test_encode_rejects(question: str, value: int | bool | str) -> None:
    with pytest.raises(ValueError):
        encode_answer(PROTOCOL.questions[question], value)


def test_decode_and_validity_reject_out_of_range() -> None:
    q = PROTOCOL.questions
    for question, bad in (("Q1", 11), ("Q9", 8), ("Q5", 2), ("Q3", 5), ("Q8", 7), ("Q8", -1)):
        assert not is_valid_code(q[question], bad)
        with pytest.raises(ValueError):
            decode_answer(q[question], bad)
    assert is_valid_code(q["Q8"], 6)


@given(st.sampled_from(list(PROTOCOL.questions)), st.data())
def test_every_option_round_trips(question_key: str, data: st.DataObject) -> None:
    question = PROTOCOL.questions[question_key]
    options = answer_options(PROTOCOL, question)
    option = data.draw(st.sampled_from(options))
    value = decode_answer(question, option.code)
    assert encode_answer(question, value) == option.code
    # What a callback carries: check-in id, ref key and code, well inside 64 bytes.
    assert len(f"ci:{2**53}:{question_key}.3:{option.code}".encode()) <= 64


def test_answer_options() -> None:
    q = PROTOCOL.questions
    assert [o.code for o in answer_options(PROTOCOL, q["Q1"])] == list(range(11))
    assert [o.label.get("es") for o in answer_options(PROTOCOL, q["Q9"])] == [
        str(n) for n in range(8)
    ]
    yes, no = answer_options(PROTOCOL, q["Q5"])
    assert (yes.code, yes.label.get("es"), no.code) == (1, "Sí", 0)
    assert [o.label.get("en") for o in answer_options(PROTOCOL, q["Q3"])][1] == "Small bruise"


@pytest.mark.parametrize(("days", "asked"), [(0, ["Q9"]), (1, []), (7, [])])
def test_weekly_q9_only_when_nothing_was_logged_that_week(days: int, asked: list[str]) -> None:
    """Issue 15: the Sunday adherence question is asked only when the patient logged no
    exercise that week; otherwise the check-in asks nothing and is not sent."""
    context = PatientContext(
        region_tags=frozenset(), baseline=BASELINE, logged_exercise_days_this_week=days
    )
    assert keys("adherence", context) == asked
    assert checkin_applies(PROTOCOL.checkin("adherence"), context) is bool(asked)
