"""Answers out of careloop: a CSV for spreadsheets and a FHIR R4 Bundle for record systems.

Pure functions over plain rows: the caller loads the answers (joined with the
patient's name, the session number and the check-in key) and passes them in,
so the export format can be tested without a database and the query can
change without touching the format.

Both formats are deterministic (same rows → same bytes): an export re-run for
an audit or a diff must not differ by ids or timestamps the data did not change.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "CSV_HEADER",
    "LOCAL_QUESTION_SYSTEM",
    "LOINC_PAIN_CODE",
    "ExportRow",
    "answers_csv",
    "fhir_bundle",
    "fhir_json",
]

CSV_HEADER: tuple[str, ...] = (
    "patient_id",
    "patient_name",
    "session",
    "checkin",
    "question",
    "value",
    "answered_at",
    # the question's words and the answer's label in the reader's language, appended so
    # that the columns above keep their names and places for existing readers
    "question_text",
    "answer_text",
)

#: Usual pain (Q2) is the one question with a standard code (clinical.md).
USUAL_PAIN_QUESTION = "Q2"
LOINC_SYSTEM = "http://loinc.org"
LOINC_PAIN_CODE = "72514-3"
LOINC_PAIN_DISPLAY = "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
#: Every other question is coded by its protocol key ("Q1", "Q7.2") here.
LOCAL_QUESTION_SYSTEM = "urn:careloop:question"
PATIENT_ID_SYSTEM = "urn:careloop:patient"
ANSWER_ID_SYSTEM = "urn:careloop:answer"
OBSERVATION_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"

#: Root of careloop's name-based UUIDs; per clinic below it (see _namespace).
_CARELOOP_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:careloop")

#: Spreadsheet formula triggers (OWASP "CSV injection"): = + - @, and tab / CR,
#: which some spreadsheets strip before looking for the others.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportRow:
    """One answer with what a reader needs to place it; answered_at must be aware.
    question_text / answer_text: the words of the question and of the answer in the
    reader's language (care.export_rows fills them from the protocol)."""

    patient_id: int
    patient_name: str | None
    session_number: int | None
    checkin_key: str
    question_key: str
    value: int
    answered_at: datetime
    question_text: str = ""
    answer_text: str = ""


def answers_csv(rows: Sequence[ExportRow]) -> bytes:
    """The rows as CSV, in the order given, ready to open in Excel.

    UTF-8 with a BOM because Excel otherwise reads the file as the local
    code page and mangles accented names. The csv module quotes commas,
    quotes and line breaks inside names; CRLF line ends (RFC 4180). Text that
    starts like a formula gets a leading apostrophe, so a patient who calls
    themself "=HYPERLINK(…)" cannot run anything in the clinic's spreadsheet;
    the apostrophe is visible in the cell, which is the point. Times are UTC
    ("…Z") so rows from patients in different zones sort together. The last two
    columns say the question and the answer in words; the codes stay in their columns.
    """
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow(
            (
                row.patient_id,
                _cell(row.patient_name or ""),
                "" if row.session_number is None else row.session_number,
                _cell(row.checkin_key),
                _cell(row.question_key),
                row.value,
                _utc_iso(row.answered_at).replace("+00:00", "Z"),
                _cell(row.question_text),
                _cell(row.answer_text),
            )
        )
    return buf.getvalue().encode("utf-8-sig")


def fhir_bundle(
    rows: Sequence[ExportRow], *, generated_at: datetime, clinic_name: str
) -> dict[str, Any]:
    """A FHIR R4 collection Bundle: the clinic, one Patient per patient, one Observation per row.

    Observations: status final, category survey, valueInteger as stored (for
    choice questions that is the choice's index in the protocol; for a multi
    question such as Q4, the bitmask of the chosen indexes, choice i = 1 << i —
    old single-choice Q4 rows were rewritten so by migration 0005). Q2 is coded
    with LOINC 72514-3 plus its local code; other questions only with their
    key in LOCAL_QUESTION_SYSTEM. Entries are sorted (patients by id,
    observations by patient, time, check-in, question), so row order does not
    change the output.

    References: every entry's fullUrl is a urn:uuid, and in a Bundle a
    relative reference such as "Patient/7" only resolves against RESTful
    fullUrls (R4 §2.36.4.1), so observations point at their patient's
    urn:uuid fullUrl; the careloop id stays readable in Patient.id and
    Patient.identifier. The UUIDs are name-based (uuid5) under a per-clinic
    namespace, so the same answer keeps its id across exports while patient
    7 of one clinic never collides with patient 7 of another.

    Raises ValueError for naive datetimes, a Q2 value outside 0–10, or two
    rows with the same patient, check-in, question and time (they would
    share a fullUrl).
    """
    namespace = _namespace(clinic_name)
    org_url = _urn(namespace, "organization")
    org_ref = {"reference": org_url, "display": clinic_name}
    names = _patient_names(rows)
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": org_url,
            "resource": {"resourceType": "Organization", "active": True, "name": clinic_name},
        }
    ]
    entries += (
        {
            "fullUrl": _patient_url(namespace, patient_id),
            "resource": _patient(patient_id, names[patient_id], org_ref),
        }
        for patient_id in sorted(names)
    )
    entries += _observation_entries(rows, namespace, names)
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _utc_iso(generated_at),
        "entry": entries,
    }


def _patient_names(rows: Sequence[ExportRow]) -> dict[int, str | None]:
    """Each exported patient's name (None where no row carries one)."""
    names: dict[int, str | None] = {}
    for row in rows:
        if names.get(row.patient_id) is None:
            names[row.patient_id] = row.patient_name
    return names


def _observation_entries(
    rows: Sequence[ExportRow], namespace: uuid.UUID, names: dict[int, str | None]
) -> list[dict[str, Any]]:
    """One Observation entry per answer, in a stable order, each pointing at its patient's
    urn:uuid fullUrl; ValueError for two answers that would share a fullUrl."""
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in sorted(rows, key=_observation_order):
        key = _answer_key(row)
        if key in seen:
            raise ValueError(f"duplicate answer in export: {key}")
        seen.add(key)
        subject: dict[str, str] = {"reference": _patient_url(namespace, row.patient_id)}
        if names[row.patient_id] is not None:
            subject["display"] = str(names[row.patient_id])
        entries.append(
            {"fullUrl": _urn(namespace, key), "resource": _observation(row, key, subject)}
        )
    return entries


def fhir_json(bundle: dict[str, Any]) -> bytes:
    """The Bundle as UTF-8 JSON (application/fhir+json), names unescaped, stable layout."""
    return (json.dumps(bundle, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _cell(text: str) -> str:
    """Text made inert for spreadsheets (see answers_csv)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _utc_iso(at: datetime) -> str:
    """ISO 8601 in UTC with its offset; naive times are refused, not guessed."""
    if at.utcoffset() is None:
        raise ValueError("export times must be aware datetimes")
    return at.astimezone(UTC).isoformat()


def _namespace(clinic_name: str) -> uuid.UUID:
    """The UUID namespace of one clinic's exports."""
    return uuid.uuid5(_CARELOOP_NAMESPACE, f"clinic/{clinic_name}")


def _urn(namespace: uuid.UUID, name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(namespace, name)}"


def _patient_url(namespace: uuid.UUID, patient_id: int) -> str:
    return _urn(namespace, f"patient/{patient_id}")


def _answer_key(row: ExportRow) -> str:
    """What makes an answer unique: patient, check-in, question, time (as in the brief)."""
    return (
        f"answer/{row.patient_id}/{row.checkin_key}/{row.question_key}/{_utc_iso(row.answered_at)}"
    )


def _observation_order(row: ExportRow) -> tuple[int, datetime, str, str]:
    if row.answered_at.utcoffset() is None:
        raise ValueError("export times must be aware datetimes")
    return (row.patient_id, row.answered_at, row.checkin_key, row.question_key)


def _patient(patient_id: int, name: str | None, org_ref: dict[str, str]) -> dict[str, Any]:
    """A Patient with only what careloop holds: its id and display name (no other PII)."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(patient_id),
        "identifier": [{"system": PATIENT_ID_SYSTEM, "value": str(patient_id)}],
    }
    if name is not None:
        resource["name"] = [{"text": name}]
    resource["managingOrganization"] = org_ref
    return resource


def _observation(row: ExportRow, key: str, subject: dict[str, str]) -> dict[str, Any]:
    """One answer as a survey Observation."""
    local = {"system": LOCAL_QUESTION_SYSTEM, "code": row.question_key}
    if row.question_key == USUAL_PAIN_QUESTION:
        if not 0 <= row.value <= 10:
            raise ValueError(f"usual pain (LOINC {LOINC_PAIN_CODE}) must be 0–10, got {row.value}")
        loinc = {"system": LOINC_SYSTEM, "code": LOINC_PAIN_CODE, "display": LOINC_PAIN_DISPLAY}
        code: dict[str, Any] = {"coding": [loinc, local], "text": LOINC_PAIN_DISPLAY}
    else:
        code = {"coding": [local], "text": row.question_key}
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "identifier": [{"system": ANSWER_ID_SYSTEM, "value": key.removeprefix("answer/")}],
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": OBSERVATION_CATEGORY_SYSTEM, "code": "survey", "display": "Survey"}
                ]
            }
        ],
        "code": code,
        "subject": subject,
        "effectiveDateTime": _utc_iso(row.answered_at),
        "valueInteger": row.value,
    }
    if row.session_number is not None:
        resource["note"] = [
            {"text": f"careloop session {row.session_number}, check-in {row.checkin_key}"}
        ]
    return resource
