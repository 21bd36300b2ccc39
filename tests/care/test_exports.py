"""Exports: the CSV reads back to exactly the rows; the FHIR Bundle is whole and consistent."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from care.exports import (
    CSV_HEADER,
    LOCAL_QUESTION_SYSTEM,
    LOINC_PAIN_CODE,
    ExportRow,
    answers_csv,
    fhir_bundle,
    fhir_json,
)

T = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
GENERATED = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
AWKWARD_NAMES = [
    "Smith, John",
    'Ana "la Rubia" Pérez',
    "line one\nline two",
    "Zoë 🦵 Müller",
    "=cmd|' /C calc'!A0",
    None,
]


def _rows() -> list[ExportRow]:
    rows: list[ExportRow] = []
    for pid, name in enumerate(AWKWARD_NAMES, start=1):
        for n, (checkin, q, v, hours) in enumerate(
            [("t3h", "Q1", 6, 3), ("h24", "Q1", 4, 24), ("h24", "Q2", 5, 24), ("h24", "Q3", 1, 24)]
        ):
            rows.append(
                ExportRow(
                    patient_id=pid,
                    patient_name=name,
                    session_number=1,
                    checkin_key=checkin,
                    question_key=q,
                    value=v,
                    answered_at=T + timedelta(hours=hours, minutes=n),
                )
            )
    rows.append(ExportRow(1, "Smith, John", None, "weekly", "Q7.2", 3, T + timedelta(days=7)))
    # An answer recorded with a non-UTC offset must still come out in UTC.
    rows.append(
        ExportRow(
            2,
            'Ana "la Rubia" Pérez',
            2,
            "weekly",
            "Q2",
            3,
            datetime(2026, 3, 16, 10, 0, tzinfo=timezone(timedelta(hours=1))),
        )
    )
    return rows


def _read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _expected_name(name: str | None) -> str:
    if name is None:
        return ""
    return "'" + name if name[0] in "=+-@" else name


# ---------------------------------------------------------------- CSV


def test_csv_starts_with_bom_and_header() -> None:
    data = answers_csv(_rows())
    assert data.startswith(b"\xef\xbb\xbf")
    assert _read_csv(data)[0] == list(CSV_HEADER)
    # the code columns keep their names and places; the words are appended (issue 14)
    assert CSV_HEADER == (
        "patient_id",
        "patient_name",
        "session",
        "checkin",
        "question",
        "value",
        "answered_at",
        "question_text",
        "answer_text",
    )


def test_csv_reads_back_to_exactly_the_rows() -> None:
    rows = _rows()
    parsed = _read_csv(answers_csv(rows))[1:]
    assert len(parsed) == len(rows)
    for got, row in zip(parsed, rows, strict=True):
        assert got == [
            str(row.patient_id),
            _expected_name(row.patient_name),
            "" if row.session_number is None else str(row.session_number),
            row.checkin_key,
            row.question_key,
            str(row.value),
            got[6],
            row.question_text,
            row.answer_text,
        ]
        assert datetime.fromisoformat(got[6]) == row.answered_at
        assert got[6].endswith("Z")


def test_csv_names_survive_commas_quotes_newlines_and_emoji() -> None:
    names = {r[1] for r in _read_csv(answers_csv(_rows()))[1:]}
    assert {"Smith, John", 'Ana "la Rubia" Pérez', "line one\nline two", "Zoë 🦵 Müller"} <= names


def test_csv_words_are_made_inert_like_names() -> None:
    row = ExportRow(1, "A", 1, "h24", "Q7.1", 5, T, "How well: =cmd", "-5/10")
    assert _read_csv(answers_csv([row]))[1][7:] == ["How well: =cmd", "'-5/10"]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_formula_injection_is_defused(start: str) -> None:
    row = ExportRow(1, f"{start}SUM(A1:A9)", 1, "h24", "Q2", 5, T)
    name = _read_csv(answers_csv([row]))[1][1]
    assert name == f"'{start}SUM(A1:A9)"


def test_csv_of_nothing_is_just_the_header() -> None:
    assert _read_csv(answers_csv([])) == [list(CSV_HEADER)]


def test_csv_refuses_naive_times() -> None:
    with pytest.raises(ValueError):
        answers_csv([ExportRow(1, "A", 1, "h24", "Q2", 5, datetime(2026, 3, 2, 10, 0))])


# ---------------------------------------------------------------- FHIR


def _bundle(rows: list[ExportRow] | None = None) -> dict:
    return fhir_bundle(
        _rows() if rows is None else rows, generated_at=GENERATED, clinic_name="Clínica Sur"
    )


def _parsed() -> dict:
    return json.loads(fhir_json(_bundle()).decode("utf-8"))


def _of_type(bundle: dict, kind: str) -> list[dict]:
    return [e for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_bundle_is_a_collection_with_a_timestamp() -> None:
    bundle = _parsed()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    assert datetime.fromisoformat(bundle["timestamp"]) == GENERATED


def test_every_answer_is_a_final_survey_observation() -> None:
    rows = _rows()
    observations = _of_type(_parsed(), "Observation")
    assert len(observations) == len(rows)
    got = sorted(
        (
            o["resource"]["subject"]["reference"],
            o["resource"]["code"]["coding"][-1]["code"],
            o["resource"]["valueInteger"],
            datetime.fromisoformat(o["resource"]["effectiveDateTime"]),
        )
        for o in observations
    )
    patients = {e["resource"]["id"]: e["fullUrl"] for e in _of_type(_parsed(), "Patient")}
    want = sorted(
        (patients[str(r.patient_id)], r.question_key, r.value, r.answered_at) for r in rows
    )
    assert got == want
    for entry in observations:
        obs = entry["resource"]
        assert obs["status"] == "final"
        assert obs["category"][0]["coding"][0]["code"] == "survey"
        assert type(obs["valueInteger"]) is int
        assert datetime.fromisoformat(obs["effectiveDateTime"]).utcoffset() is not None


def test_usual_pain_carries_loinc_and_others_the_local_code() -> None:
    observations = [e["resource"] for e in _of_type(_parsed(), "Observation")]
    q2 = [o for o in observations if _local_code(o) == "Q2"]
    assert len(q2) == sum(1 for r in _rows() if r.question_key == "Q2")
    for obs in q2:
        loinc = obs["code"]["coding"][0]
        assert loinc["system"] == "http://loinc.org"
        assert loinc["code"] == LOINC_PAIN_CODE == "72514-3"
        assert loinc["display"] == "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
        assert 0 <= obs["valueInteger"] <= 10
    for obs in observations:
        if _local_code(obs) != "Q2":
            assert all(c["system"] == LOCAL_QUESTION_SYSTEM for c in obs["code"]["coding"])
    assert {_local_code(o) for o in observations} == {"Q1", "Q2", "Q3", "Q7.2"}


def _local_code(obs: dict) -> str:
    return next(c["code"] for c in obs["code"]["coding"] if c["system"] == LOCAL_QUESTION_SYSTEM)


def test_every_subject_resolves_to_a_patient_in_the_bundle() -> None:
    bundle = _parsed()
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    patients = _of_type(bundle, "Patient")
    assert sorted(int(p["resource"]["id"]) for p in patients) == list(
        range(1, len(AWKWARD_NAMES) + 1)
    )
    for entry in _of_type(bundle, "Observation"):
        subject = entry["resource"]["subject"]
        patient = by_url[subject["reference"]]
        assert patient["resourceType"] == "Patient"
        name = AWKWARD_NAMES[int(patient["id"]) - 1]
        if name is None:
            assert "name" not in patient and "display" not in subject
        else:
            assert patient["name"] == [{"text": name}]  # FHIR gets the name as given
            assert subject["display"] == name
    for p in patients:
        org = by_url[p["resource"]["managingOrganization"]["reference"]]
        assert org == {"resourceType": "Organization", "active": True, "name": "Clínica Sur"}


def test_full_urls_are_unique_uuid_urns() -> None:
    urls = [e["fullUrl"] for e in _parsed()["entry"]]
    assert len(urls) == len(set(urls))
    assert all(u.startswith("urn:uuid:") and len(u) == len("urn:uuid:") + 36 for u in urls)


def test_deterministic_and_independent_of_row_order() -> None:
    first = fhir_json(_bundle())
    assert first == fhir_json(_bundle())
    assert first == fhir_json(_bundle(_rows()[::-1]))
    assert answers_csv(_rows()) == answers_csv(_rows())


def test_ids_are_stable_per_answer_but_differ_between_clinics() -> None:
    one = fhir_bundle(_rows()[:1], generated_at=GENERATED, clinic_name="A")
    again = fhir_bundle(_rows()[:2], generated_at=GENERATED + timedelta(days=1), clinic_name="A")
    other = fhir_bundle(_rows()[:1], generated_at=GENERATED, clinic_name="B")
    urls = lambda b: {e["fullUrl"] for e in b["entry"]}  # noqa: E731
    assert urls(one) <= urls(again)
    assert not urls(one) & urls(other)


def test_empty_export_is_a_valid_bundle() -> None:
    bundle = json.loads(fhir_json(_bundle([])))
    assert bundle["type"] == "collection"
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Organization"]


def test_json_is_utf8_with_names_unescaped() -> None:
    data = fhir_json(_bundle())
    assert "Zoë 🦵 Müller".encode() in data
    assert not data.startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize(
    "rows",
    [
        [ExportRow(1, "A", 1, "h24", "Q2", 5, T), ExportRow(1, "A", 1, "h24", "Q2", 6, T)],
        [ExportRow(1, "A", 1, "h24", "Q2", 11, T)],
        [ExportRow(1, "A", 1, "h24", "Q2", 5, datetime(2026, 3, 2, 10, 0))],
    ],
)
def test_bundle_refuses_duplicates_bad_pain_and_naive_times(rows: list[ExportRow]) -> None:
    with pytest.raises(ValueError):
        _bundle(rows)
    with pytest.raises(ValueError):
        fhir_bundle([], generated_at=datetime(2026, 4, 1), clinic_name="A")
