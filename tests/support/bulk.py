"""Consented patients whose first check-in is due now, bulk-inserted (a burst for the
dispatcher): much faster than `tests.support.population.populate`."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from flows.loader import load_protocol
from flows.planner import plan_session_checkins
from store.db import SessionFactory, create_engine, session_factory
from store.models import (
    Checkin,
    CheckinState,
    NeedlingSession,
    OutboxKind,
    OutboxMessage,
    Patient,
    PatientStatus,
    Role,
    StaffMember,
)
from tests.fakebot import FakeBotAPI
from tests.support.population import THERAPIST_TG

STAFF_TG = THERAPIST_TG + 1  # the front desk `populate` registers too


def ident(value: int | None) -> int:
    assert value is not None, "flushed rows have their ids"
    return value


async def ensure_clinic(sessions: SessionFactory, now: datetime) -> tuple[int, int]:
    """The therapist and the front-desk member every bulk patient belongs to (ids)."""
    async with sessions() as db:
        people = {
            s.tg_user_id: s
            for s in (
                await db.exec(
                    select(StaffMember).where(
                        col(StaffMember.tg_user_id).in_([THERAPIST_TG, STAFF_TG])
                    )
                )
            ).all()
        }
        if len(people) < 2:
            therapist = StaffMember(
                tg_user_id=THERAPIST_TG, role=Role.THERAPIST, name="Theo Rapist", created_at=now
            )
            staff = StaffMember(tg_user_id=STAFF_TG, role=Role.STAFF, name="Sam", created_at=now)
            db.add_all([therapist, staff])
            await db.commit()
            people = {THERAPIST_TG: therapist, STAFF_TG: staff}
        therapist_id, staff_id = people[THERAPIST_TG].id, people[STAFF_TG].id
    assert therapist_id is not None and staff_id is not None
    return therapist_id, staff_id


async def add_due_patients(
    db_url: str,
    fake: FakeBotAPI | None,
    *,
    count: int,
    now: datetime,
    tz: str,
    first_tg: int,
    therapist_id: int | None = None,
) -> list[int]:
    """`count` consented patients whose session ended 3 h before `now`: their first check-in
    is due at once (a burst). Bulk-inserted, but into the real tables and with the session
    check-ins the real planner gives (`plan_session_checkins`), as `plan_session` writes them.

    Much faster than `tests.support.population.populate`, which goes through enrollment, the join
    link and consent one patient at a time. Returns the patients' Telegram ids; their chats
    are started on `fake` (when given), so the fake lets the bot write to them.
    """
    protocol = load_protocol()
    session_end = now - timedelta(hours=3)
    planned = [
        p
        for p in plan_session_checkins(protocol, session_end=session_end, tz=ZoneInfo(tz), now=now)
        if p.skip_reason is None
    ]
    assert planned and planned[0].due_at <= now, "the first check-in must be due now"
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    own_therapist, staff_id = await ensure_clinic(sessions, now)
    tg_ids = list(range(first_tg, first_tg + count))
    async with sessions() as db:
        patients = [
            Patient(
                display_name=f"Patient {tg}",
                therapist_id=therapist_id or own_therapist,
                enrolled_by=staff_id,
                status=PatientStatus.ACTIVE,
                tg_user_id=tg,
                baseline_pain=5,
                created_at=now,
                consented_at=now,
            )
            for tg in tg_ids
        ]
        db.add_all(patients)
        await db.flush()
        visits = [
            NeedlingSession(
                patient_id=ident(p.id),
                number=1,
                ended_at=session_end,
                regions=["piriformis"],
                recorded_by=staff_id,
                created_at=now,
            )
            for p in patients
        ]
        db.add_all(visits)
        await db.flush()
        checkins = [
            (
                patient,
                Checkin(
                    patient_id=ident(patient.id),
                    session_id=visit.id,
                    key=p.key,
                    due_at=p.due_at,
                    expires_at=p.expires_at,
                    state=CheckinState.SCHEDULED,
                ),
            )
            for patient, visit in zip(patients, visits, strict=True)
            for p in planned
        ]
        db.add_all([c for _, c in checkins])
        await db.flush()
        db.add_all(
            [
                OutboxMessage(
                    kind=OutboxKind.CHECKIN,
                    chat_id=ident(patient.tg_user_id),
                    patient_id=patient.id,
                    checkin_id=checkin.id,
                    due_at=checkin.due_at,
                    created_at=now,
                )
                for patient, checkin in checkins
            ]
        )
        await db.commit()
    await engine.dispose()
    if fake is not None:
        for tg in tg_ids:
            fake.user(tg, f"P{tg}").started = True  # they opened their link on the phone
        fake.user(THERAPIST_TG, "Theo", last_name="Rapist").started = True
    return tg_ids
