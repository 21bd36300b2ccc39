"""Answer values as stored ints, and the buttons that produce them.

Every answer is an int — the number for scale/count, 1/0 for yes/no, the
choice's index for a choice, the bitmask of the chosen indexes for a multi
question (choice i is 1 << i) — so it fits a database integer column and a
64-byte callback payload, and a forged or stale callback can be checked with
one range test.

Multi answers and old rows: Q4 was a single choice before migration 0005, which
rewrote each stored index i as the one-choice mask 1 << (its new index), so every
stored Q4 value is a mask and decodes here like a new one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flows.protocol import Protocol, Question
from flows.text import Text

AnswerValue = int | bool | str | tuple[str, ...]


@dataclass(frozen=True)
class AnswerOption:
    """One button: the stored code and its label."""

    code: int
    label: Text


def is_valid_code(question: Question, code: int) -> bool:
    """Whether `code` is a possible stored answer to `question` (callback check).

    multi: a non-empty mask of existing choices in which an exclusive choice
    ("Nothing new") stands alone.
    """
    if isinstance(code, bool) or not isinstance(code, int):
        return False
    if question.kind != "multi":
        return 0 <= code <= question.max_value
    if not 1 <= code <= question.max_value:
        return False
    exclusive = exclusive_mask(question)
    return not (code & exclusive) or code & (code - 1) == 0


def exclusive_mask(question: Question) -> int:
    """The bits of a multi question's exclusive choices."""
    return sum(1 << i for i, c in enumerate(question.choices) if c.exclusive)


def chosen_indexes(code: int) -> tuple[int, ...]:
    """The choice indexes set in a multi mask, lowest first."""
    return tuple(i for i in range(code.bit_length()) if code >> i & 1)


def toggle_choice(question: Question, mask: int, index: int) -> int:
    """A multi question's draft after tapping choice `index`.

    Tapping a selected choice clears it; tapping an exclusive choice ("Nothing
    new") clears every other one, and tapping any other choice clears the
    exclusive ones. Raises ValueError for an index the question does not have.
    """
    if question.kind != "multi" or not 0 <= index < len(question.choices):
        raise ValueError(f"{question.key} has no multi choice {index!r}")
    bit = 1 << index
    if mask & bit:
        return mask & ~bit
    if question.choices[index].exclusive:
        return bit
    return (mask & ~exclusive_mask(question)) | bit


def encode_answer(question: Question, value: AnswerValue) -> int:
    """The stored int for a domain value.

    scale/count: the number; yes_no: True/False or "yes"/"no" → 1/0;
    choice: the choice key → its index; multi: one key or several → the mask.
    Raises ValueError for anything else, so a bad value never reaches the database.
    """
    if question.kind == "multi":
        keys = [value] if isinstance(value, str) else value
        if isinstance(keys, bool | int) or not isinstance(keys, Iterable):
            raise ValueError(f"{question.key} needs choice keys, got {value!r}")
        code = 0
        for key in keys:
            try:
                code |= 1 << question.choice_index(str(key))
            except KeyError as exc:
                raise ValueError(str(exc)) from None
    elif question.kind in ("scale", "count"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{question.key} needs a whole number, got {value!r}")
        code = value
    elif question.kind == "yes_no":
        if isinstance(value, bool):
            code = int(value)
        elif value in ("yes", "no"):
            code = 1 if value == "yes" else 0
        else:
            raise ValueError(f"{question.key} needs yes or no, got {value!r}")
    else:
        if not isinstance(value, str):
            raise ValueError(f"{question.key} needs a choice key, got {value!r}")
        try:
            code = question.choice_index(value)
        except KeyError as exc:
            raise ValueError(str(exc)) from None
    if not is_valid_code(question, code):
        raise ValueError(f"{question.key}: {value!r} is outside 0–{question.max_value}")
    return code


def decode_answer(question: Question, code: int) -> AnswerValue:
    """The domain value of a stored int: a number, a bool (yes_no), a choice key, or
    for a multi question the chosen keys in the protocol's order."""
    if not is_valid_code(question, code):
        raise ValueError(
            f"{question.key}: stored answer {code!r} is outside 0–{question.max_value}"
        )
    if question.kind == "multi":
        return tuple(question.choices[i].key for i in chosen_indexes(code))
    if question.kind == "yes_no":
        return code == 1
    if question.kind == "choice":
        return question.choices[code].key
    return code


def answer_options(protocol: Protocol, question: Question) -> tuple[AnswerOption, ...]:
    """The buttons of a question in display order.

    Numbers are labelled with themselves (0…10, 0…7); yes/no uses the
    protocol's [ui] texts, Yes first; choices use their own texts. A multi
    question's options carry their one-choice masks (1 << i): they are toggles,
    and its answer (any combination) is labelled by `answer_words`.
    """
    if question.kind == "multi":
        return tuple(AnswerOption(1 << i, c.text) for i, c in enumerate(question.choices))
    if question.kind == "yes_no":
        return (AnswerOption(1, protocol.yes), AnswerOption(0, protocol.no))
    if question.kind == "choice":
        return tuple(AnswerOption(i, c.text) for i, c in enumerate(question.choices))
    lang = protocol.default_language
    return tuple(
        AnswerOption(n, Text(((lang, str(n)),), lang)) for n in range(question.max_value + 1)
    )


def answer_words(protocol: Protocol, question: Question, code: int, lang: str | None) -> str:
    """A stored answer in the patient's or staff's words ("Fever or chills, Fainted").

    Scale answers read "7/10"; a code the question cannot hold reads as the number.
    """
    if not is_valid_code(question, code):
        return str(code)
    if question.kind == "multi":
        return ", ".join(question.choices[i].text.get(lang) for i in chosen_indexes(code))
    for option in answer_options(protocol, question):
        if option.code == code:
            label = option.label.get(lang)
            return f"{label}/10" if question.kind == "scale" else label
    return str(code)


def question_words(
    protocol: Protocol, key: str, lang: str | None, activities: tuple[str, ...] = ()
) -> str:
    """A stored answer's question in words, for a reader of the data (/mydata, the CSV).

    `key` is what the answer is stored under: "Q1", or "Q7.2" for a per-activity question
    (the patient's second activity fills its `{activity}`; "…" when the patient no longer
    has that activity). A key the protocol does not have reads as itself."""
    bank, _, position = key.partition(".")
    question = protocol.questions.get(bank)
    if question is None:
        return key
    if not question.prompt.placeholders():
        return question.prompt.get(lang)
    index = int(position) - 1 if position.isdigit() else -1
    activity = activities[index] if 0 <= index < len(activities) else "…"
    return question.prompt.render(lang, activity=activity)


def stored_answer_words(protocol: Protocol, key: str, code: int, lang: str | None) -> str:
    """A stored answer in words whatever its key ("Q7.2" → its bank question Q7); a key the
    protocol does not have reads as the number."""
    question = protocol.questions.get(key.partition(".")[0])
    return str(code) if question is None else answer_words(protocol, question, code, lang)
