"""Issue 11 item 5, retention: RETENTION_DAYS after a follow-up ended, the daily sweep
erases the patient as /delete does, with an audit event; not a minute before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.config import ConfigError, load_settings
from care.records import erase_expired
from store.db import SessionFactory
from store.models import AuditEvent, Patient, PatientStatus, Role, StaffMember
from tests.support.harness import LIVE

ENDED = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
RETENTION = timedelta(days=365)
NAME = "Zoë <O'Brien> & 🦵"


async def _patients(sessions: SessionFactory) -> dict[str, int]:
    async with sessions() as db:
        therapist = StaffMember(
            tg_user_id=2000, role=Role.THERAPIST, name="Theo", created_at=ENDED
        )
        db.add(therapist)
        await db.flush()
        assert therapist.id is not None
        ids = {}
        for key, status, tg in (
            ("discharged", PatientStatus.DISCHARGED, 4000),
            ("stopped", PatientStatus.STOPPED, 4001),
            ("declined", PatientStatus.DECLINED, 4002),
            ("active", PatientStatus.ACTIVE, 4003),
        ):
            patient = Patient(
                display_name=f"{NAME} {key}",
                therapist_id=therapist.id,
                status=status,
                tg_user_id=tg,
                baseline_pain=6,
                created_at=ENDED - timedelta(days=30),
                ended_at=None if status == PatientStatus.ACTIVE else ENDED,
            )
            db.add(patient)
            await db.flush()
            assert patient.id is not None
            ids[key] = patient.id
        await db.commit()
    return ids


async def test_retention_erases_ended_follow_ups_after_the_period(
    sessions: SessionFactory,
) -> None:
    ids = await _patients(sessions)
    async with sessions() as db:  # a minute before the period is over: nothing
        assert await erase_expired(db, retention=RETENTION, now=ENDED + RETENTION) == []
    async with sessions() as db:
        names = {p.id: p.display_name for p in (await db.exec(select(Patient))).all()}
    assert all(names[i] for i in ids.values())

    later = ENDED + RETENTION + timedelta(minutes=1)
    async with sessions() as db:
        erased = await erase_expired(db, retention=RETENTION, now=later)
    assert sorted(erased) == sorted(ids[k] for k in ("discharged", "stopped", "declined"))
    async with sessions() as db:
        patients = {p.id: p for p in (await db.exec(select(Patient))).all()}
        events = (
            await db.exec(
                select(AuditEvent).where(AuditEvent.action == "patient_erased_retention")
            )
        ).all()
    for key in ("discharged", "stopped", "declined"):
        tomb = patients[ids[key]]
        assert tomb.status == PatientStatus.DELETED
        assert tomb.display_name is None and tomb.tg_user_id is None
    assert patients[ids["active"]].display_name == f"{NAME} active"  # still followed
    assert sorted(e.subject_id for e in events) == sorted(erased)
    assert all(e.actor_kind == "system" and e.detail == {} for e in events)
    async with sessions() as db:  # the next pass has nothing left to do
        assert await erase_expired(db, retention=RETENTION, now=later) == []


@pytest.mark.parametrize("raw", ["0", "-3", "a year", "1.5"])
def test_retention_days_must_be_a_positive_whole_number(raw: str) -> None:
    with pytest.raises(ConfigError, match=r"^RETENTION_DAYS: expected a positive whole number"):
        load_settings({**LIVE, "RETENTION_DAYS": raw})


def test_retention_days_default_and_value() -> None:
    assert load_settings(LIVE).retention == timedelta(days=365)
    thirty = load_settings({**LIVE, "RETENTION_DAYS": "30"})
    assert thirty.retention == timedelta(days=30)
