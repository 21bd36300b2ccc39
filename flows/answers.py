"""Answer values as stored ints, and the buttons that produce them.

Every answer is an int — the number for scale/count, 1/0 for yes/no, the
choice's index for a choice — so it fits a database integer column and a
64-byte callback payload, and a forged or stale callback can be checked with
one range test.
"""

from __future__ import annotations

from dataclasses import dataclass

from flows.protocol import Protocol, Question
from flows.text import Text

AnswerValue = int | bool | str


@dataclass(frozen=True)
class AnswerOption:
    """One button: the stored code and its label."""

    code: int
    label: Text


def is_valid_code(question: Question, code: int) -> bool:
    """Whether `code` is a possible stored answer to `question` (callback check)."""
    return not isinstance(code, bool) and isinstance(code, int) and 0 <= code <= question.max_value


def encode_answer(question: Question, value: AnswerValue) -> int:
    """The stored int for a domain value.

    scale/count: the number; yes_no: True/False or "yes"/"no" → 1/0;
    choice: the choice key → its index. Raises ValueError for anything else,
    so a bad value never reaches the database.
    """
    if question.kind in ("scale", "count"):
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
    """The domain value of a stored int: a number, a bool (yes_no) or a choice key."""
    if not is_valid_code(question, code):
        raise ValueError(
            f"{question.key}: stored answer {code!r} is outside 0–{question.max_value}"
        )
    if question.kind == "yes_no":
        return code == 1
    if question.kind == "choice":
        return question.choices[code].key
    return code


def answer_options(protocol: Protocol, question: Question) -> tuple[AnswerOption, ...]:
    """The buttons of a question in display order.

    Numbers are labelled with themselves (0…10, 0…7); yes/no uses the
    protocol's [ui] texts, Yes first; choices use their own texts.
    """
    if question.kind == "yes_no":
        return (AnswerOption(1, protocol.yes), AnswerOption(0, protocol.no))
    if question.kind == "choice":
        return tuple(AnswerOption(i, c.text) for i, c in enumerate(question.choices))
    lang = protocol.default_language
    return tuple(
        AnswerOption(n, Text(((lang, str(n)),), lang)) for n in range(question.max_value + 1)
    )
