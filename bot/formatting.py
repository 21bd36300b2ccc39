"""How dates, times, spans of time, numbers and plurals are written — one way per locale.

Every date, time or count a person reads goes through here (Babel's CLDR data), so an
en-GB clinic reads "Wed 2 Dec, 08:00", an en-US one "Wed, Dec 2, 8:00 AM", a Spanish one
"mié, 2 dic, 8:00", and "1 session", "2 sessions", "1 día", "2 días" are real plurals.
A time shown in a zone other than the reader's own names it: "08:00 (Madrid)".

Staff read the clinic's locale (CLINIC_LOCALE); a patient reads their own language's,
which is the clinic's locale when the languages match (an es-MX clinic's Spanish
patients read Mexican dates), else the language's usual one (es → es-ES, en → en-GB).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_skeleton, format_time, format_timedelta, get_timezone_location
from babel.numbers import format_decimal

from bot.texts import t

DEFAULT_LOCALES = {"en": "en_GB", "es": "es_ES"}


def language_of(locale: str) -> str:
    """The language of the texts for a Babel locale ("es_MX" → "es")."""
    return "es" if locale.split("_")[0] == "es" else "en"


def patient_locale(lang: str, clinic_locale: str) -> str:
    """The locale a patient reading `lang` sees dates in."""
    if language_of(clinic_locale) == lang:
        return clinic_locale
    return DEFAULT_LOCALES.get(lang, "en_GB")


def plural(key: str, lang: str, n: int, /, **values: object) -> str:
    """The text `key` for the count `n`, in the plural form `lang` uses for it.

    The catalogue holds one key per CLDR form ("n_sessions.one", "n_sessions.other", and
    "….many" where a language needs it); `{n}` is the count, written for `lang`."""
    form = Locale.parse(lang).plural_form(abs(n))
    chosen = f"{key}.{form}"
    try:
        return t(chosen, lang, n=format_decimal(n, locale=lang), **values)
    except KeyError:
        return t(f"{key}.other", lang, n=format_decimal(n, locale=lang), **values)


@dataclass(frozen=True)
class Style:
    """How one reader reads times: `locale`, the zone times are shown in (`tz`), and the
    reader's own zone (`home`; None: the same as `tz`, never named)."""

    locale: str
    tz: ZoneInfo
    home: ZoneInfo | None = None

    @property
    def lang(self) -> str:
        return language_of(self.locale)

    def _local(self, moment: datetime | date) -> datetime | date:
        return moment.astimezone(self.tz) if isinstance(moment, datetime) else moment

    def _zone(self) -> str:
        if self.home is None or self.home.key == self.tz.key:
            return ""
        return f" ({get_timezone_location(self.tz, locale=self.locale, return_city=True)})"

    def when(self, moment: datetime) -> str:
        """Weekday, day, month and time: "Wed 2 Dec, 08:00" (+ the zone when not the reader's)."""
        local = moment.astimezone(self.tz)
        day = format_skeleton("MMMEd", local, locale=self.locale)
        return f"{day}, {format_time(local, 'short', locale=self.locale)}{self._zone()}"

    def weekday(self, moment: datetime | date) -> str:
        """Weekday, day and month: "Wed 2 Dec" (en-GB), "Wed, Dec 2" (en-US), "mié, 2 dic"."""
        return format_skeleton("MMMEd", self._local(moment), locale=self.locale)

    def day(self, moment: datetime | date) -> str:
        """Day and month: "2 Dec" (en-GB), "Dec 2" (en-US), "2 dic" (es)."""
        return format_skeleton("MMMd", self._local(moment), locale=self.locale)

    def clock(self, moment: datetime) -> str:
        """The time of day: "08:00", "8:00 AM" (+ the zone when not the reader's)."""
        local = moment.astimezone(self.tz)
        return format_time(local, "short", locale=self.locale) + self._zone()

    def span(self, delta: timedelta) -> str:
        """How long, in the largest sensible unit: "2 days", "3 hours", "40 minutes"."""
        return format_timedelta(delta, threshold=1.5, locale=self.locale)

    def ago(self, delta: timedelta) -> str:
        """How long ago: "2 hr ago", "hace 2 h" (a short form, for one-line summaries)."""
        return format_timedelta(
            -max(delta, timedelta(seconds=1)),  # never "in 0 sec"
            add_direction=True,
            format="short",
            threshold=1.5,
            locale=self.locale,
        )

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self.locale)


def staff_style(clinic_locale: str, clinic_tz: ZoneInfo, *, home: ZoneInfo | None = None) -> Style:
    """Staff read the clinic's locale; times are the clinic's, named when not the reader's."""
    return Style(clinic_locale, clinic_tz, home)
