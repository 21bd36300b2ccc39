"""Reading conditions and answer tests from the protocol file.

Shared by check-ins (whole-check-in and per-question conditions) and by
[[after]] rules. References are resolved here — choice keys to the stored
indices, "any earlier check-in" to explicit check-in keys — so that evaluating
a condition needs nothing but the patient's context.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flows.conditions import AnswerIs, Condition, Guard, PatientHas, RegionIs, ValueTest
from flows.context import PATIENT_FACTS, REGION_TAGS
from flows.errors import ProtocolError
from flows.protocol import Question
from flows.toml_reader import Table, quoted, type_name

#: The keys of an answer test; exactly one per condition or rule.
TEST_KEYS: tuple[str, ...] = (
    "at_least",
    "at_most",
    "equals",
    "is",
    "in",
    "not_in",
    "at_least_baseline_plus",
)
#: `within_hours` of a region condition: at most four weeks (a typo like 720 is caught).
MAX_WITHIN_HOURS = 24.0 * 28
_NUMERIC_TESTS = ("at_least", "at_most", "equals", "at_least_baseline_plus")


@dataclass(frozen=True)
class EarlierCheckins:
    """What an answer condition inside check-in `current` may refer to.

    offsets: the offset (hours) of every after-session check-in; asks: the
    questions each check-in lists. `current` is None where answer conditions
    make no sense (weekly check-ins, [[after]] patient conditions).
    """

    current: str | None
    offsets: Mapping[str, float]
    asks: Mapping[str, frozenset[str]]


def read_value_test(table: Table, question: Question) -> ValueTest:
    """The single answer test of a condition or rule, checked against the question's kind."""
    present = [key for key in TEST_KEYS if table.has(key)]
    if len(present) != 1:
        found = quoted(present) if present else "none"
        raise table.error(f"needs exactly one test of {quoted(TEST_KEYS)}; found {found}")
    kind = present[0]
    numeric = question.kind in ("scale", "count")
    if kind in _NUMERIC_TESTS:
        if not numeric:
            raise table.error(
                f'"{kind}" compares numbers but question "{question.key}" is a {question.kind}'
                ' question; use "is", "in" or "not_in" with its choices'
            )
        if kind == "at_least_baseline_plus":
            return ValueTest("baseline_plus", number=table.integer(kind, 0, question.max_value))
        number = table.integer(kind, 0, question.max_value)
        if kind == "equals":
            return ValueTest("one_of", values=frozenset({number}))
        return ValueTest("at_least" if kind == "at_least" else "at_most", number=number)
    if numeric:
        raise table.error(
            f'"{kind}" tests choices but question "{question.key}" is a {question.kind}'
            ' question; use "at_least", "at_most" or "equals"'
        )
    keys = [table.string(kind)] if kind == "is" else table.string_list(kind)
    if not keys:
        raise table.error(f'"{kind}" must list at least one choice')
    indices = frozenset(choice_code(table, question, key) for key in keys)
    return ValueTest("none_of" if kind == "not_in" else "one_of", values=indices)


def choice_code(table: Table, question: Question, key: str) -> int:
    """A choice key as its stored value (yes_no: "yes" → 1, "no" → 0)."""
    if question.kind == "yes_no":
        if key not in ("yes", "no"):
            raise table.error(
                f'question "{question.key}" is yes/no; use "yes" or "no", not "{key}"'
            )
        return 1 if key == "yes" else 0
    try:
        return question.choice_index(key)
    except KeyError:
        options = quoted(c.key for c in question.choices)
        raise table.error(
            f'question "{question.key}" has no choice "{key}" (choices: {options})'
        ) from None


def read_guard(
    parent: Table,
    questions: Mapping[str, Question],
    earlier: EarlierCheckins,
) -> Guard:
    """`when_any` / `when_all` of a check-in, a question entry or an [[after]] rule."""
    groups: dict[str, tuple[Condition, ...]] = {}
    for field in ("when_any", "when_all"):
        items = parent.raw(field, [])
        if not isinstance(items, list) or (not items and parent.has(field)):
            raise parent.error(f'"{field}" must be a non-empty list of conditions')
        groups[field] = tuple(
            read_condition(parent, f"{field} item {n}", item, questions, earlier)
            for n, item in enumerate(items, 1)
        )
    return Guard(any_of=groups["when_any"], all_of=groups["when_all"])


def read_condition(
    parent: Table,
    label: str,
    raw: object,
    questions: Mapping[str, Question],
    earlier: EarlierCheckins,
) -> Condition:
    entry = f"{parent.entry}, {label}"
    if not isinstance(raw, dict):
        raise ProtocolError(
            parent.file, entry, f'must be a table like {{ region = "TRUNK" }}, got {type_name(raw)}'
        )
    kinds = [k for k in ("region", "patient", "answer") if k in raw]
    if len(kinds) != 1:
        # Report a misspelt key first: it is the likelier cause of a missing kind.
        Table(
            parent.file,
            entry,
            raw,
            ("region", "within_hours", "patient", "answer", "at", *TEST_KEYS),
        )
        raise ProtocolError(
            parent.file, entry, 'a condition needs exactly one of "region", "patient", "answer"'
        )
    if kinds[0] == "region":
        table = Table(parent.file, entry, raw, ("region", "within_hours"))
        tag = table.one_of("region", sorted(REGION_TAGS))
        hours = table.number("within_hours", 0, MAX_WITHIN_HOURS, None, lo_inclusive=False)
        return RegionIs(tag, within_hours=hours)
    if kinds[0] == "patient":
        table = Table(parent.file, entry, raw, ("patient",))
        return PatientHas(table.one_of("patient", sorted(PATIENT_FACTS)))
    table = Table(parent.file, entry, raw, ("answer", "at", *TEST_KEYS))
    key = table.string("answer")
    question = questions.get(key)
    if question is None:
        raise table.error(f'question "{key}" is not in the question bank')
    if question.per_activity:
        raise table.error(
            f'question "{key}" is asked per activity; conditions on it are not supported'
        )
    if earlier.current is None:
        raise table.error("answer conditions are only allowed in after_session check-ins")
    at = resolve_at(table, key, earlier)
    return AnswerIs(question=key, at=at, test=read_value_test(table, question))


def resolve_at(table: Table, question: str, earlier: EarlierCheckins) -> tuple[str, ...]:
    """The check-ins an answer condition looks in; "any earlier" when `at` is absent."""
    assert earlier.current is not None
    own_offset = earlier.offsets[earlier.current]
    if not table.has("at"):
        keys = tuple(
            key
            for key, offset in earlier.offsets.items()
            if offset < own_offset and question in earlier.asks.get(key, frozenset())
        )
        if not keys:
            raise table.error(f'no earlier check-in asks question "{question}"')
        return keys
    raw = table.raw("at")
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise table.error(f'"at" must be a check-in key or a list of them, got {type_name(raw)}')
    for name in names:
        if name not in earlier.asks:
            raise table.error(f'"at": check-in "{name}" is not defined')
        if name not in earlier.offsets:
            raise table.error(f'"at": check-in "{name}" is not an after_session check-in')
        if earlier.offsets[name] >= own_offset:
            raise table.error(f'"at": check-in "{name}" is not earlier than "{earlier.current}"')
        if question not in earlier.asks[name]:
            raise table.error(f'"at": check-in "{name}" does not ask question "{question}"')
    return tuple(dict.fromkeys(names))
