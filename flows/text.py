"""Translated texts of the protocol.

Every sentence a patient sees lives in the protocol file as a table of
translations, so a clinician can sign off (and a clinic can change) the wording
without touching code. A `Text` knows its default language, so a patient whose
language has no translation still gets a sentence, never a key or a blank.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass

#: Placeholders any patient-facing text may use; the bot fills them from the
#: clinic's settings (EMERGENCY_NUMBER, CLINIC_PHONE, CLINIC_NAME).
CLINIC_PLACEHOLDERS: frozenset[str] = frozenset({"emergency_number", "clinic_phone", "clinic_name"})

#: The placeholder of a per-activity question prompt (Q7): the activity's words.
ACTIVITY_PLACEHOLDER = "activity"


def placeholders_in(template: str) -> set[str]:
    """Return the `{name}` placeholders used in `template`.

    Raises ValueError for what str.format would choke on or what we do not
    allow in a clinic-editable text: unbalanced braces, positional `{}`,
    attribute/index access, conversions and format specs.
    """
    names: set[str] = set()
    for _literal, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if not field.isidentifier():
            raise ValueError(f"placeholder {{{field}}} is not a plain name")
        if spec or conversion:
            raise ValueError(f"placeholder {{{field}}} may not have a format or conversion")
        names.add(field)
    return names


@dataclass(frozen=True)
class Text:
    """One text in several languages.

    `items` is a tuple of (language, text) pairs rather than a dict so that a
    Text (and every frozen model holding one) is hashable and compares by value.
    """

    items: tuple[tuple[str, str], ...]
    default_language: str

    @classmethod
    def of(cls, default_language: str = "en", **translations: str) -> Text:
        """Build a Text from keyword translations: `Text.of(en="Yes", es="Sí")`."""
        return cls(tuple(translations.items()), default_language)

    @classmethod
    def from_mapping(cls, translations: Mapping[str, str], default_language: str) -> Text:
        return cls(tuple(translations.items()), default_language)

    @property
    def translations(self) -> dict[str, str]:
        return dict(self.items)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(lang for lang, _ in self.items)

    def get(self, lang: str | None = None) -> str:
        """The text in `lang`, else its base language ("es-MX" → "es"), else the default.

        Telegram reports IETF tags such as "pt-br"; a clinic ships "pt" — the
        base-language step makes that match without the clinic listing variants.
        """
        table = dict(self.items)
        if lang:
            if lang in table:
                return table[lang]
            base = lang.split("-", 1)[0].split("_", 1)[0].lower()
            if base in table:
                return table[base]
        return table[self.default_language]

    def render(self, lang: str | None = None, /, **values: str) -> str:
        """The text in `lang` with its placeholders filled in.

        Raises KeyError when a placeholder the text uses is not given: a text
        showing a literal `{clinic_phone}` to a patient is worse than a crash
        caught in tests.
        """
        return self.get(lang).format_map(values)

    def placeholders(self) -> set[str]:
        """All placeholders used in any translation."""
        found: set[str] = set()
        for _, text in self.items:
            found |= placeholders_in(text)
        return found

