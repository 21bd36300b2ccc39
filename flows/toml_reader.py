"""Typed, strict reading of one TOML table, with errors that say where.

The loader builds the model through this so that every field is checked the
same way: unknown keys are refused (a typo such as `ofset_hours` must not
silently fall back to a default), types and ranges are checked, and each error
names the file, the entry and the problem.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from datetime import time
from typing import Any

from flows.errors import ProtocolError
from flows.text import Text, placeholders_in

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_MISSING: Any = object()


def parse_hhmm(value: str) -> time | None:
    """'21:00' → time(21, 0); None when not a 24-hour HH:MM ('24:00' and '9:00' are not)."""
    match = _TIME.match(value)
    if match is None:
        return None
    return time(int(match.group(1)), int(match.group(2)))


def quoted(items: Iterable[str]) -> str:
    return ", ".join(f'"{item}"' for item in items)


class TextRules:
    """What a text must satisfy: languages, placeholders, length."""

    def __init__(self, default_language: str, languages: tuple[str, ...]) -> None:
        self.default_language = default_language
        self.languages = languages


class Table:
    """One TOML table being read for one entry of the protocol."""

    def __init__(
        self,
        file: str,
        entry: str,
        data: object,
        allowed: Iterable[str],
        *,
        what: str = "a table",
    ) -> None:
        self.file = file
        self.entry = entry
        if not isinstance(data, dict):
            raise self.error(f"must be {what}, got {type_name(data)}")
        self.data: dict[str, Any] = data
        allowed_set = list(allowed)
        for key in data:
            if key not in allowed_set:
                hint = difflib.get_close_matches(key, allowed_set, n=1)
                suffix = (
                    f'; did you mean "{hint[0]}"?' if hint else f"; allowed: {quoted(allowed_set)}"
                )
                raise self.error(f'unknown key "{key}"{suffix}')

    def error(self, problem: str) -> ProtocolError:
        return ProtocolError(self.file, self.entry, problem)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        if key not in self.data:
            if default is _MISSING:
                raise self.error(f'missing key "{key}"')
            return default
        return self.data[key]

    def string(self, key: str, default: Any = _MISSING, *, pattern: str | None = None) -> Any:
        value = self.raw(key, default)
        if value is default and key not in self.data:
            return value
        if not isinstance(value, str):
            raise self.error(f'"{key}" must be a string, got {type_name(value)}')
        if not value.strip():
            raise self.error(f'"{key}" must not be empty')
        if pattern is not None and not re.fullmatch(pattern, value):
            raise self.error(f'"{key}" = "{value}" does not match {pattern}')
        return value

    def one_of(self, key: str, options: Iterable[str], default: Any = _MISSING) -> Any:
        value = self.string(key, default)
        if key not in self.data:
            return value
        options = list(options)
        if value not in options:
            raise self.error(f'"{key}" must be one of {quoted(options)}, got "{value}"')
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if key in self.data and not isinstance(value, bool):
            raise self.error(f'"{key}" must be true or false, got {type_name(value)}')
        return value

    def integer(self, key: str, lo: int, hi: int | None = None, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f'"{key}" must be a whole number, got {type_name(value)}')
        check_range(self, key, value, lo, hi)
        return value

    def number(
        self,
        key: str,
        lo: float,
        hi: float | None = None,
        default: Any = _MISSING,
        *,
        lo_inclusive: bool = True,
    ) -> Any:
        value = self.raw(key, default)
        if key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f'"{key}" must be a number, got {type_name(value)}')
        if not lo_inclusive and value <= lo:
            raise self.error(f'"{key}" must be greater than {lo:g}, got {value:g}')
        check_range(self, key, value, lo, hi)
        return float(value)

    def clock(self, key: str, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if key not in self.data:
            return value
        if not isinstance(value, str):
            raise self.error(f'"{key}" must be a time "HH:MM", got {type_name(value)}')
        parsed = parse_hhmm(value)
        if parsed is None:
            raise self.error(f'"{key}" = "{value}" is not a time "HH:MM" (00:00–23:59)')
        return parsed

    def string_list(self, key: str, default: Any = _MISSING, *, unique: bool = True) -> Any:
        value = self.raw(key, default)
        if key not in self.data:
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(f'"{key}" must be a list of strings')
        if unique:
            seen: set[str] = set()
            for item in value:
                if item in seen:
                    raise self.error(f'"{key}" lists "{item}" twice')
                seen.add(item)
        return list(value)

    def text(
        self,
        key: str,
        rules: TextRules,
        *,
        placeholders: frozenset[str] = frozenset(),
        max_length: int | None = None,
        default: Any = _MISSING,
    ) -> Any:
        """A translations table `{ en = "...", es = "..." }` as a Text."""
        value = self.raw(key, default)
        if key not in self.data:
            return value
        return read_text(
            self, f'text "{key}"', value, rules, placeholders=placeholders, max_length=max_length
        )


def read_text(
    where: Table,
    label: str,
    value: object,
    rules: TextRules,
    *,
    placeholders: frozenset[str] = frozenset(),
    max_length: int | None = None,
) -> Text:
    """Check one translations table against the protocol's languages and placeholders."""
    if not isinstance(value, dict):
        raise where.error(
            f'{label} must be a table of translations like {{ en = "..." }}, got {type_name(value)}'
        )
    for lang, sentence in value.items():
        if lang not in rules.languages:
            raise where.error(
                f'{label}: language "{lang}" is not in [protocol] languages'
                f" ({quoted(rules.languages)})"
            )
        if not isinstance(sentence, str) or not sentence.strip():
            raise where.error(f'{label} ("{lang}") must be a non-empty string')
        try:
            used = placeholders_in(sentence)
        except ValueError as exc:
            raise where.error(f'{label} ("{lang}"): {exc}') from None
        unknown = sorted(used - placeholders)
        if unknown:
            allowed = ", ".join(f"{{{p}}}" for p in sorted(placeholders)) or "none"
            raise where.error(
                f'{label} ("{lang}"): unknown placeholder {{{unknown[0]}}}; allowed: {allowed}'
            )
        if max_length is not None and len(sentence) > max_length:
            raise where.error(
                f'{label} ("{lang}") is {len(sentence)} characters, longer than {max_length}'
            )
    if rules.default_language not in value:
        raise where.error(f'{label} has no "{rules.default_language}" (default language) text')
    return Text.from_mapping(value, rules.default_language)


def check_range(where: Table, key: str, value: float, lo: float, hi: float | None) -> None:
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo:g} and {hi:g}" if hi is not None else f"at least {lo:g}"
        raise where.error(f'"{key}" must be {bound}, got {value:g}')


def type_name(value: object) -> str:
    """TOML's name for a parsed value's type, for error messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__
