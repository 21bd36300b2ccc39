"""Finding a patient's time zone from what a person would say: "Madrid", "Ciudad de México",
"new york", "España", or an IANA name ("Europe/Madrid").

The index is built from the time zone database (zoneinfo.available_timezones) and CLDR's
names for it through Babel: each zone's exemplar city in every language we speak ("Nueva
York", "Calcuta"), its IANA city ("New_York"), the old IANA names that now point to it
("Asia/Calcutta"), and its country's name ("Spain", "España" → all of Spain's zones).
Accents, case and punctuation are ignored. Where one answer means several zones that
tell the same time (Madrid and Ceuta), the one tzdata's zone.tab lists first for the
country — its most populous — is offered. Library data only (Babel's CLDR, tzdata).

Only zones CLDR places in a country are offered (the tz database also has "Etc/GMT+5",
"US/Eastern" and other legacy names; an IANA name typed exactly still works in
care.controls.parse_timezone).
"""

from __future__ import annotations

import importlib.resources
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from babel import Locale
from babel.core import get_global
from babel.dates import get_timezone_location

#: the languages whose city and country names are indexed (the bot's languages)
INDEX_LANGUAGES = ("en", "es")
#: at most this many zones are offered as buttons for one answer
MAX_CHOICES = 8
#: a typed word this long or longer also matches names it begins ("nueva" → Nueva York)
PREFIX_MIN = 4


def normalize(text: str) -> str:
    """Lower case, no accents, words separated by single spaces ("Ciudad_de-México" →
    "ciudad de mexico")."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join("".join(c if c.isalnum() else " " for c in plain).split())


@cache
def _zones() -> tuple[str, ...]:
    """The zones offered: in the tz database here and placed in a country by CLDR."""
    territories: Mapping[str, str] = get_global("zone_territories")
    return tuple(sorted(z for z in available_timezones() if z in territories))


def city_name(zone: str, lang: str) -> str:
    """The zone's exemplar city in `lang` ("America/New_York", "es" → "Nueva York")."""
    return str(get_timezone_location(zone, locale=lang, return_city=True))


@cache
def _index() -> dict[str, frozenset[str]]:
    names: dict[str, set[str]] = defaultdict(set)
    zones = _zones()
    known = set(zones)
    for zone in zones:
        names[normalize(zone.rsplit("/", 1)[-1])].add(zone)
        names[normalize(zone)].add(zone)
        for lang in INDEX_LANGUAGES:
            names[normalize(city_name(zone, lang))].add(zone)
    aliases: Mapping[str, str] = get_global("zone_aliases")
    for old, new in aliases.items():
        if new in known:
            names[normalize(old.rsplit("/", 1)[-1])].add(new)
            names[normalize(old)].add(new)
    by_country: Mapping[str, list[str]] = get_global("territory_zones")
    for lang in INDEX_LANGUAGES:
        territories = Locale.parse(lang).territories
        for code, country_zones in by_country.items():
            present = [z for z in country_zones if z in known]
            if present and code in territories:
                names[normalize(territories[code])].update(present)
    names.pop("", None)
    return {name: frozenset(found) for name, found in names.items()}


def find_zones(typed: str, *, now: datetime) -> tuple[str, ...]:
    """The zones a typed city, country or zone name means: exact names first; with none,
    the names it begins. Zones that tell the same time the same way (one country's zones
    of one metazone, e.g. Madrid and Ceuta) are offered once, at most MAX_CHOICES (a
    country with more zones: the patient types their city). Empty when nothing matches."""
    key = normalize(typed)
    if not key:
        return ()
    index = _index()
    found = index.get(key)
    if not found and len(key) >= PREFIX_MIN:
        found = frozenset().union(*(z for name, z in index.items() if name.startswith(key)))
    return _distinct(found or (), now=now)[:MAX_CHOICES]


def neighbours(zone: str, *, now: datetime) -> tuple[str, ...]:
    """The clinic's zone first, then the other zones of its country, one per metazone
    (Madrid: Canarias; Mexico City: Cancún, Tijuana…), west of it last."""
    territory = get_global("zone_territories").get(zone)
    country = get_global("territory_zones").get(territory, ()) if territory else ()
    others = _distinct([z for z in country if z != zone and z in set(_zones())], now=now)
    same = _metazone(zone, now)
    return (zone, *[z for z in others if _metazone(z, now) != same])[:MAX_CHOICES]


def utc_offset(zone: str, now: datetime) -> timedelta:
    return now.astimezone(ZoneInfo(zone)).utcoffset() or timedelta(0)


def zone_label(zone: str, lang: str, now: datetime) -> str:
    """A button's words: the city in the reader's language and its offset now
    ("Canarias (UTC+0)", "New York (UTC−5)")."""
    minutes = int(utc_offset(zone, now).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    offset = f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")
    return f"{city_name(zone, lang)} ({offset})"


@cache
def _rank() -> dict[str, int]:
    """Each zone's line in tzdata's zone.tab: within a country the most populous zone comes
    first. Empty (names decide) where the tzdata package is not installed."""
    try:
        table = importlib.resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text()
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - tzdata is a dependency
        return {}
    lines = [line.split("\t") for line in table.splitlines() if not line.startswith("#")]
    return {fields[2]: n for n, fields in enumerate(lines) if len(fields) >= 3}


def _metazone(zone: str, now: datetime) -> tuple[str, timedelta, timedelta]:
    """What makes two zones the same choice for a patient: CLDR's metazone (one name for
    "Central European Time") and the offsets in January and July of this year (Phoenix
    shares Denver's offset in winter, not in summer)."""
    meta: Mapping[str, str] = get_global("meta_zones")
    january, july = (datetime(now.year, month, 15, tzinfo=now.tzinfo) for month in (1, 7))
    return meta.get(zone, zone), utc_offset(zone, january), utc_offset(zone, july)


def _distinct(zones: Iterable[str], *, now: datetime) -> tuple[str, ...]:
    """One zone per (country, metazone) — the country's most populous (zone.tab) — ordered
    east to west, then as zone.tab lists them."""
    rank = _rank()
    territories: Mapping[str, str] = get_global("zone_territories")
    groups: dict[tuple[str, str, timedelta, timedelta], list[str]] = defaultdict(list)
    for zone in sorted(set(zones), key=lambda z: (rank.get(z, len(rank)), z)):
        groups[(territories.get(zone, ""), *_metazone(zone, now))].append(zone)
    picked = [group[0] for group in groups.values()]
    return tuple(sorted(picked, key=lambda z: (-utc_offset(z, now), rank.get(z, len(rank)), z)))
