"""Dates, numbers, plurals and the staff's language per CLINIC_LOCALE (issue 14, items 12
and 14): the catalogue is complete in English and Spanish, one formatting module writes
every date and count, and alert reasons read as sentences from the finding's facts."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.alert_view import reason_sentence
from bot.config import ConfigError, load_settings
from bot.controls_view import pause_keyboard
from bot.formatting import Style, patient_locale, plural, staff_style
from bot.texts import _EN, _ES, t
from flows.context import PatientContext
from flows.loader import load_protocol
from flows.triage import AnswerFact, triage_answer, triage_silence

MADRID = ZoneInfo("Europe/Madrid")
NEW_YORK = ZoneInfo("America/New_York")
# Wednesday 2 December 2026, 08:00 in Madrid
RAISED = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_key_is_in_english_and_spanish_with_the_same_placeholders() -> None:
    assert sorted(set(_EN) - set(_ES)) == []
    assert sorted(set(_ES) - set(_EN)) == []
    for key, english in _EN.items():
        assert _fields(english) == _fields(_ES[key]), key


def test_every_count_has_its_plural_forms_in_both_languages() -> None:
    counted = {key.rsplit(".", 1)[0] for key in _EN if re.search(r"\.(one|other|many)$", key)}
    assert {"n_sessions", "n_days", "n_open_alerts", "csv_caption"} <= counted
    for stem in counted:
        for catalogue in (_EN, _ES):
            assert f"{stem}.one" in catalogue and f"{stem}.other" in catalogue, stem
    # no hand-made plurals are left in the catalogue
    assert not [key for key, text in {**_EN, **_ES}.items() if "(s)" in text]


def test_plurals_are_real_plurals() -> None:
    assert [plural("n_sessions", "en", n) for n in (1, 2, 0)] == [
        "1 session",
        "2 sessions",
        "0 sessions",
    ]
    assert [plural("n_days", "es", n) for n in (1, 2)] == ["1 día", "2 días"]
    assert [plural("n_days", "en", n) for n in (1, 3)] == ["1 day", "3 days"]
    assert plural("n_sessions", "es", 1_000_000) == "1.000.000 sesiones"  # CLDR "many"


def test_the_pause_buttons_count_days_in_the_patients_language() -> None:
    def labels(lang: str) -> list[str]:
        return [b.text for row in pause_keyboard((1, 3), lang).inline_keyboard for b in row]

    assert labels("en") == ["1 day", "3 days"]
    assert labels("es") == ["1 día", "3 días"]


@pytest.mark.parametrize(
    ("locale", "when", "day"),
    [
        ("en_GB", "Wed 2 Dec, 08:00", "2 Dec"),
        ("en_US", "Wed, Dec 2, 8:00\u202fAM", "Dec 2"),  # a US clinic reads month/day
        ("es_ES", "mié, 2 dic, 8:00", "2 dic"),
        ("es_MX", "mié 2 de dic, 8:00\u202fa.m.", "2 dic"),
    ],
)
def test_dates_are_written_one_way_per_locale(locale: str, when: str, day: str) -> None:
    style = staff_style(locale, MADRID)
    assert style.when(RAISED) == when
    assert style.day(RAISED) == day


def test_the_time_zone_is_named_where_it_is_not_the_readers_own() -> None:
    assert Style("en_GB", MADRID, MADRID).when(RAISED) == "Wed 2 Dec, 08:00"
    assert Style("en_GB", MADRID, NEW_YORK).when(RAISED) == "Wed 2 Dec, 08:00 (Madrid)"
    patient_zone = Style("es_ES", ZoneInfo("America/Mexico_City"), MADRID)
    assert patient_zone.clock(RAISED) == "1:00 (Ciudad de México)"


def test_ages_and_spans() -> None:
    gb, es = staff_style("en_GB", MADRID), staff_style("es_ES", MADRID)
    assert gb.ago(timedelta(hours=2)) == "2 hr ago"
    assert es.ago(timedelta(hours=2)) == "hace 2 h"
    assert gb.span(timedelta(hours=50.4)) == "2 days"
    assert es.span(timedelta(hours=50.4)) == "2 días"
    assert gb.span(timedelta(hours=3)) == "3 hours"


def test_a_patient_reads_their_own_languages_format() -> None:
    assert patient_locale("es", "en_GB") == "es_ES"
    assert patient_locale("es", "es_MX") == "es_MX"  # the clinic's Spanish
    assert patient_locale("en", "es_MX") == "en_GB"
    assert patient_locale("en", "en_US") == "en_US"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("en-GB", "en_GB"), ("en-US", "en_US"), ("es-ES", "es_ES"), ("es_mx", "es_MX")],
)
def test_clinic_locale_is_read(raw: str, expected: str) -> None:
    assert load_settings({"CLINIC_LOCALE": raw}, require_token=False).clinic_locale == expected


def test_clinic_locale_defaults_to_en_gb() -> None:
    assert load_settings({}, require_token=False).clinic_locale == "en_GB"


@pytest.mark.parametrize("raw", ["fr-FR", "english", "en", "xx-YY"])
def test_a_bad_clinic_locale_stops_the_start_with_one_line(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"CLINIC_LOCALE": raw}, require_token=False)
    message = str(caught.value)
    assert message.startswith("CLINIC_LOCALE: ") and repr(raw) in message
    assert "\n" not in message


def _answer(key: str, value: int, hours: float, checkin: str = "h48") -> AnswerFact:
    return AnswerFact(checkin, key, value, RAISED, 1, hours)


def _sentences(answer: AnswerFact, baseline: int = 6) -> dict[str, list[str]]:
    findings = triage_answer(
        load_protocol(),
        answer=answer,
        ctx=PatientContext(region_tags=frozenset(), baseline=baseline),
        history=[],
        session_regions_tags=frozenset(),
    )
    out: dict[str, list[str]] = {}
    for locale in ("en_GB", "es_ES"):
        style = staff_style(locale, MADRID)
        out[locale[:2]] = [s for f in findings if (s := reason_sentence(f.fact, style))]
    return out


def test_a_callback_reason_reads_as_a_therapist_would_write_it() -> None:
    said = _sentences(_answer("Q2", 9, 50.4))
    assert said["en"][0] == "Pain 9/10 2 days after session 1, 3 above their usual 6"
    assert said["es"][0] == (
        "Dolor 9/10 2 días después de la sesión 1, 3 por encima de su habitual 6"
    )
    assert not any("h after" in s or "callback from" in s for s in said["en"])


def test_soreness_at_24_hours_and_a_red_flag_read_as_sentences() -> None:
    sore = _sentences(_answer("Q1", 8, 20.0, checkin="h24"))
    assert sore["en"] == ["Needle-site soreness 8/10 20 hours after session 1"]
    assert sore["es"] == ["Molestias en la zona de punción 8/10 20 horas después de la sesión 1"]
    q6 = _sentences(_answer("Q6", 1, 3.0, checkin="h3"))
    assert q6["en"][0].startswith("Possible cauda equina signs")
    assert q6["en"][0].endswith("3 hours after session 1")
    assert q6["es"][0].startswith("Posibles signos de cola de caballo")


def test_silence_counts_check_ins_with_real_plurals() -> None:
    finding = triage_silence(load_protocol(), missed_consecutive=2, within_first_hours=True)
    assert finding is not None
    gb, es = staff_style("en_GB", MADRID), staff_style("es_ES", MADRID)
    assert reason_sentence(finding.fact, gb) == (
        "No reply to 2 check-ins in a row after a session, one reminder each"
    )
    assert reason_sentence(finding.fact, es) == (
        "Sin respuesta a 2 controles seguidos después de una sesión, con un recordatorio cada uno"
    )


def test_spanish_staff_texts_use_the_words_the_clinic_signed_off() -> None:
    enrolment = [k for k in _ES if k.startswith("enroll") or k in ("hint_staff",)]
    assert "Registrar a un paciente" in t("enroll_name", "es")
    for key in enrolment:
        assert "dar de alta" not in _ES[key].lower(), key
    assert "control" in t("digest_missed.other", "es", n=2)
    assert "usted" in t("reason_patient_message", "es")
