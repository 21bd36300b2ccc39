"""record_answer on a check-in that has closed, on SQLite and PostgreSQL: a red flag is
stored once as a late answer with its alert; anything else stores nothing. And what counts
as a red flag, on both sides."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from care.alerts import AlertPolicy
from care.checkins import AnswerStatus, is_red_flag, record_answer
from care.symptoms import open_symptom_report
from flows.loader import load_protocol
from flows.triage import Finding, Tier
from store.db import SessionFactory
from store.models import (
    Alert,
    Answer,
    Checkin,
    CheckinState,
    NeedlingSession,
    Patient,
    PatientStatus,
    Role,
    StaffMember,
)

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 02:00 in Madrid
PROTOCOL = load_protocol()
UTC_ZONE = ZoneInfo("UTC")


def finding(tier: Tier, *, emergency: bool = False) -> Finding:
    return Finding(tier=tier, reason_key="x", reasons=(), stops_checkin=False, emergency=emergency)


@pytest.mark.parametrize(
    ("findings", "red"),
    [
        ([], False),
        ([finding(Tier.ROUTINE)], False),
        ([finding(Tier.ROUTINE, emergency=True)], True),
        ([finding(Tier.SOON)], True),
        ([finding(Tier.URGENT_CALLBACK)], True),
        ([finding(Tier.ROUTINE), finding(Tier.URGENT)], True),
    ],
)
def test_what_counts_as_a_red_flag(findings: list[Finding], red: bool) -> None:
    assert is_red_flag(findings) is red


async def _setup(sessions: SessionFactory, *, state: str, status: str) -> tuple[int, int]:
    async with sessions() as db:
        therapist = StaffMember(tg_user_id=2000, role=Role.THERAPIST, name="Theo", created_at=NOW)
        db.add(therapist)
        await db.flush()
        assert therapist.id is not None
        patient = Patient(
            display_name="Zoe",
            therapist_id=therapist.id,
            status=status,
            tg_user_id=4000,
            baseline_pain=5,
            created_at=NOW,
            consented_at=NOW,
        )
        db.add(patient)
        await db.flush()
        assert patient.id is not None
        session = NeedlingSession(
            patient_id=patient.id,
            number=1,
            ended_at=NOW - timedelta(hours=16),
            regions=["thoracic"],
            created_at=NOW,
        )
        db.add(session)
        await db.flush()
        checkin = Checkin(
            patient_id=patient.id,
            session_id=session.id,
            key="h3",
            state=state,
            due_at=NOW - timedelta(hours=13),
            expires_at=NOW - timedelta(hours=3),
            opened_at=NOW - timedelta(hours=13),
        )
        db.add(checkin)
        await db.commit()
        assert checkin.id is not None
        return patient.id, checkin.id


async def _answer(sessions: SessionFactory, patient_id: int, checkin_id: int, q: str, v: int):  # type: ignore[no-untyped-def]
    async with sessions() as db:
        patient = await db.get(Patient, patient_id)
        assert patient is not None
        return await record_answer(
            db,
            PROTOCOL,
            AlertPolicy(),
            patient=patient,
            checkin_id=checkin_id,
            question_key=q,
            code=v,
            now=NOW,
        )


@pytest.mark.parametrize("state", [CheckinState.EXPIRED, CheckinState.CANCELLED, CheckinState.DONE])
async def test_late_red_flag_is_stored_once_with_its_alert(
    sessions: SessionFactory, state: str
) -> None:
    patient_id, checkin_id = await _setup(sessions, state=state, status=PatientStatus.PAUSED)
    first = await _answer(sessions, patient_id, checkin_id, "Q5", 1)
    assert first.status == AnswerStatus.RECORDED and first.late and first.emergency
    assert first.next_ref is None and first.tier == Tier.URGENT
    again = await _answer(sessions, patient_id, checkin_id, "Q5", 1)
    assert again.status == AnswerStatus.DUPLICATE
    async with sessions() as db:
        answers = (await db.exec(select(Answer))).all()
        alerts = (await db.exec(select(Alert))).all()
        checkin = await db.get(Checkin, checkin_id)
    assert [(a.question_key, a.value, a.late) for a in answers] == [("Q5", 1, True)]
    assert [a.tier for a in alerts] == ["urgent"]
    assert checkin is not None and checkin.state == state  # stays closed


async def test_late_calm_answer_stores_nothing(sessions: SessionFactory) -> None:
    patient_id, checkin_id = await _setup(
        sessions, state=CheckinState.EXPIRED, status=PatientStatus.ACTIVE
    )
    for question, value in (("Q5", 0), ("Q1", 3), ("Q4", 1)):  # Q4 = 1: "nothing new" (a mask)
        result = await _answer(sessions, patient_id, checkin_id, question, value)
        assert result.status == AnswerStatus.CLOSED
    async with sessions() as db:
        assert (await db.exec(select(Answer))).all() == []
        assert (await db.exec(select(Alert))).all() == []


async def test_red_flag_on_a_checkin_never_sent_is_not_taken(sessions: SessionFactory) -> None:
    """Forged data: no button of a check-in that was never opened was ever in the chat."""
    patient_id, checkin_id = await _setup(
        sessions, state=CheckinState.SCHEDULED, status=PatientStatus.ACTIVE
    )
    async with sessions() as db:
        checkin = await db.get(Checkin, checkin_id)
        assert checkin is not None
        checkin.opened_at = None
        await db.commit()
    assert (await _answer(sessions, patient_id, checkin_id, "Q5", 1)).status == "closed"
    async with sessions() as db:
        checkin = await db.get(Checkin, checkin_id)
        assert checkin is not None
        checkin.state = CheckinState.CANCELLED  # e.g. superseded before it was sent
        await db.commit()
    assert (await _answer(sessions, patient_id, checkin_id, "Q5", 1)).status == "closed"
    async with sessions() as db:
        assert (await db.exec(select(Answer))).all() == []


async def test_late_red_flag_of_a_stopped_patient_is_not_taken(sessions: SessionFactory) -> None:
    patient_id, checkin_id = await _setup(
        sessions, state=CheckinState.EXPIRED, status=PatientStatus.STOPPED
    )
    result = await _answer(sessions, patient_id, checkin_id, "Q5", 1)
    assert result.status == AnswerStatus.CLOSED


async def test_symptom_report_opens_beside_an_open_checkin(sessions: SessionFactory) -> None:
    patient_id, _ = await _setup(sessions, state=CheckinState.OPEN, status=PatientStatus.PAUSED)
    async with sessions() as db:
        patient = await db.get(Patient, patient_id)
        assert patient is not None
        ready = await open_symptom_report(
            db, PROTOCOL, patient=patient, default_tz=UTC_ZONE, now=NOW
        )
    assert ready is not None and ready.ref.question == "Q4"
    assert ready.checkin.state == CheckinState.OPEN and ready.checkin.session_id is not None
    assert ready.checkin.expires_at == NOW + timedelta(hours=2)
    # TRUNK session 16 h ago: Q5 is among its questions; answering it counts at once
    result = await _answer(sessions, patient_id, ready.checkin.id or 0, "Q5", 1)
    assert result.status == AnswerStatus.RECORDED and not result.late and result.emergency


@pytest.mark.parametrize("calm_first", [True, False])
async def test_a_calm_and_a_red_tap_together_keep_the_red_flag(
    sessions: SessionFactory, calm_first: bool
) -> None:
    """"No" and "Yes" to the chest question arriving together (two taps before the edit
    reached the phone), in separate transactions as two updates are: whichever commits
    first, the stored answer is Yes, one alert is raised and exactly one of the two taps is
    told the emergency text."""
    patient_id, checkin_id = await _setup(
        sessions, state=CheckinState.OPEN, status=PatientStatus.ACTIVE
    )
    taps = [("Q5", 0), ("Q5", 1)] if calm_first else [("Q5", 1), ("Q5", 0)]
    results = await asyncio.gather(
        *(_answer(sessions, patient_id, checkin_id, q, v) for q, v in taps)
    )
    assert sum(1 for r in results if r.emergency) == 1
    async with sessions() as db:
        answers = (await db.exec(select(Answer))).all()
        alerts = (await db.exec(select(Alert))).all()
    assert [(a.question_key, a.value) for a in answers] == [("Q5", 1)]
    assert [a.tier for a in alerts] == ["urgent"]
