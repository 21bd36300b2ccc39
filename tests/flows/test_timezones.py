"""flows.timezones: a typed city or country, in English or Spanish, accents and case
optional, is matched against the time zone database through CLDR's names (Babel)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.timezones import find_zones, neighbours, normalize, zone_label

WINTER = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
SUMMER = datetime(2026, 7, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "zone"),
    [
        ("Madrid", "Europe/Madrid"),
        ("madrid ", "Europe/Madrid"),
        ("Ciudad de México", "America/Mexico_City"),
        ("ciudad de mexico", "America/Mexico_City"),
        ("Mexico City", "America/Mexico_City"),
        ("mexico_city", "America/Mexico_City"),
        ("New York", "America/New_York"),
        ("nueva york", "America/New_York"),
        ("NEW-YORK", "America/New_York"),
        ("Londres", "Europe/London"),
        ("Calcutta", "Asia/Kolkata"),  # an old IANA name points to the new zone
        ("Calcuta", "Asia/Kolkata"),
        ("Buenos Aires", "America/Argentina/Buenos_Aires"),
        ("Europe/Madrid", "Europe/Madrid"),
        ("Canarias", "Atlantic/Canary"),
    ],
)
def test_a_typed_city_finds_its_zone(typed: str, zone: str) -> None:
    assert find_zones(typed, now=WINTER) == (zone,)


def test_a_country_offers_one_zone_per_way_of_telling_the_time() -> None:
    assert find_zones("España", now=WINTER) == ("Europe/Madrid", "Atlantic/Canary")
    assert find_zones("spain", now=WINTER) == ("Europe/Madrid", "Atlantic/Canary")
    us = find_zones("Estados Unidos", now=WINTER)
    assert us[:4] == ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix")
    assert "America/Indiana/Marengo" not in us  # New York tells the same time


@pytest.mark.parametrize("typed", ["", "   ", "Atlántida", "xyzzy", "Mars/Olympus", "a"])
def test_nothing_matches_unknown_words(typed: str) -> None:
    assert find_zones(typed, now=WINTER) == ()


def test_neighbours_are_the_clinic_zone_then_its_country() -> None:
    assert neighbours("Europe/Madrid", now=WINTER) == ("Europe/Madrid", "Atlantic/Canary")
    mexico = neighbours("America/Mexico_City", now=WINTER)
    assert mexico[0] == "America/Mexico_City" and "America/Tijuana" in mexico
    assert neighbours("Europe/London", now=WINTER) == ("Europe/London",)
    assert neighbours("UTC", now=WINTER) == ("UTC",)


def test_labels_name_the_city_in_the_reader_language_and_the_offset_now() -> None:
    assert zone_label("America/New_York", "es", WINTER) == "Nueva York (UTC−5)"
    assert zone_label("America/New_York", "en", SUMMER) == "New York (UTC−4)"
    assert zone_label("Asia/Kolkata", "en", WINTER) == "Kolkata (UTC+5:30)"
    assert zone_label("Atlantic/Canary", "es", WINTER) == "Canarias (UTC+0)"


@given(st.text(max_size=40))
def test_any_typed_text_gives_real_zones_or_none(typed: str) -> None:
    """Whatever is typed: no error, at most a handful of zones, each one zoneinfo opens."""
    zones = find_zones(typed, now=WINTER)
    assert len(zones) <= 8
    for zone in zones:
        ZoneInfo(zone)
    assert normalize(normalize(typed)) == normalize(typed)
