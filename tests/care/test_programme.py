"""care.programme: a patient's home programme changed by their therapist — each change one
unit of work, audited, with one message to the patient; refused, stale and repeated taps
change nothing (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from care.programme import (
    Outcome,
    add_exercise,
    change_dose,
    open_programme,
    programme_of,
    progress_exercise,
    remove_exercise,
)
from flows.loader import load_protocol
from flows.protocol import Dosage
from store.db import SessionFactory
from store.models import (
    AuditEvent,
    OutboxKind,
    OutboxMessage,
    PatientStatus,
    ProgrammeItem,
    Role,
    StaffMember,
)
from tests.support.dbutil import snapshot
from tests.support.dispatch import NOW, PATIENT_CHAT, seed_patient

PROTOCOL = load_protocol()
DEFAULT = list(PROTOCOL.exercise_plan.default_programme)


async def _messages(sessions: SessionFactory) -> list[dict[str, object]]:
    async with sessions() as db:
        rows = await db.exec(
            select(OutboxMessage)
            .where(OutboxMessage.kind == OutboxKind.PROGRAMME_CHANGE)
            .order_by(OutboxMessage.id)  # type: ignore[arg-type]
        )
        return [r.payload for r in rows.all() if r.chat_id == PATIENT_CHAT]


async def _audited(sessions: SessionFactory) -> list[dict[str, object]]:
    async with sessions() as db:
        rows = await db.exec(select(AuditEvent).where(AuditEvent.action == "programme_changed"))
        return [r.detail for r in rows.all()]


async def _item(sessions: SessionFactory, patient_id: int, exercise: str) -> ProgrammeItem:
    async with sessions() as db:
        found = await db.exec(
            select(ProgrammeItem).where(
                ProgrammeItem.patient_id == patient_id, ProgrammeItem.exercise == exercise
            )
        )
        return found.one()


async def test_a_patient_without_rows_reads_the_default_and_gets_it_on_opening(
    sessions: SessionFactory,
) -> None:
    therapist, patient = await seed_patient(sessions)
    assert patient.id is not None
    async with sessions() as db:
        shown = await programme_of(db, PROTOCOL, patient.id)
    assert [e.exercise.key for e in shown] == DEFAULT and {e.item_id for e in shown} == {None}
    async with sessions() as db:
        opened = await open_programme(db, PROTOCOL, staff=therapist, patient_id=patient.id, now=NOW)
    assert opened is not None and [e.exercise.key for e in opened] == DEFAULT
    assert all(e.item_id is not None for e in opened)
    assert await _messages(sessions) == []  # opening tells the patient nothing


async def test_dose_up_down_and_typed_each_send_one_message(sessions: SessionFactory) -> None:
    therapist, patient = await seed_patient(sessions)
    assert patient.id is not None
    async with sessions() as db:
        await open_programme(db, PROTOCOL, staff=therapist, patient_id=patient.id, now=NOW)
    bridge = await _item(sessions, patient.id, "glute_bridge")  # 2 × 10, step 2
    assert bridge.id is not None
    async with sessions() as db:
        up = await change_dose(
            db,
            PROTOCOL,
            staff=therapist,
            patient_id=patient.id,
            item_id=bridge.id,
            shown=(2, 10),
            up=True,
            now=NOW,
        )
    assert up.outcome == Outcome.DONE and up.told
    # the same button again (a double tap): stale, nothing changes, no second message
    async with sessions() as db:
        again = await change_dose(
            db,
            PROTOCOL,
            staff=therapist,
            patient_id=patient.id,
            item_id=bridge.id,
            shown=(2, 10),
            up=True,
            now=NOW,
        )
    assert again.outcome == Outcome.STALE
    assert ((await _item(sessions, patient.id, "glute_bridge")).amount) == 12
    async with sessions() as db:
        typed = await change_dose(
            db,
            PROTOCOL,
            staff=therapist,
            patient_id=patient.id,
            item_id=bridge.id,
            shown=(2, 12),
            typed=Dosage(sets=3, amount=8, unit="reps"),
            now=NOW + timedelta(minutes=1),
        )
    assert typed.outcome == Outcome.DONE
    item = await _item(sessions, patient.id, "glute_bridge")
    assert (item.sets, item.amount) == (3, 8)
    assert await _messages(sessions) == [
        {"change": "dose", "exercise": "glute_bridge", "sets": 2, "amount": 12},
        {"change": "dose", "exercise": "glute_bridge", "sets": 3, "amount": 8},
    ]
    audited = await _audited(sessions)
    assert [(a["change"], a["sets"], a["amount"], a["was"]) for a in audited] == [
        ("dose", 2, 12, [2, 10]),
        ("dose", 3, 8, [2, 12]),
    ]


async def test_add_remove_progress_within_the_picks(sessions: SessionFactory) -> None:
    therapist, patient = await seed_patient(sessions)
    assert patient.id is not None
    pid = patient.id

    async def add(key: str) -> Outcome:
        async with sessions() as db:
            return (
                await add_exercise(
                    db, PROTOCOL, staff=therapist, patient_id=pid, exercise=key, now=NOW
                )
            ).outcome

    async def remove(key: str) -> Outcome:
        item = await _item(sessions, pid, key)
        async with sessions() as db:
            return (
                await remove_exercise(
                    db, PROTOCOL, staff=therapist, patient_id=pid, item_id=item.id or 0, now=NOW
                )
            ).outcome

    # the default has five (picks_max): a sixth is refused until one goes
    assert await add("wall_press") == Outcome.FULL
    assert await remove("hip_flexor_stretch") == Outcome.DONE
    assert await add("wall_press") == Outcome.DONE
    assert await add("wall_press") == Outcome.ALREADY
    assert await add("no_such_exercise") == Outcome.INVALID
    assert await remove("hamstring_stretch") == Outcome.DONE
    assert await remove("piriformis_stretch") == Outcome.DONE
    assert await remove("clamshell") == Outcome.TOO_FEW  # three left: the minimum
    bridge = await _item(sessions, pid, "glute_bridge")
    async with sessions() as db:
        change = await progress_exercise(
            db,
            PROTOCOL,
            staff=therapist,
            patient_id=pid,
            item_id=bridge.id or 0,
            exercise="glute_bridge",
            now=NOW,
        )
    assert change.outcome == Outcome.DONE and change.exercise == "single_leg_bridge"
    # the same progress tap again: the row is not a glute bridge any more
    async with sessions() as db:
        again = await progress_exercise(
            db,
            PROTOCOL,
            staff=therapist,
            patient_id=pid,
            item_id=bridge.id or 0,
            exercise="glute_bridge",
            now=NOW,
        )
    assert again.outcome == Outcome.STALE
    async with sessions() as db:
        shown = await programme_of(db, PROTOCOL, pid)
    assert [e.exercise.key for e in shown] == [
        "clamshell",
        "single_leg_bridge",  # in the bridge's place, at its own default dosage
        "wall_press",
    ]
    assert shown[1].dosage == PROTOCOL.exercises["single_leg_bridge"].dosage
    assert [(m["change"], m["exercise"]) for m in await _messages(sessions)] == [
        ("removed", "hip_flexor_stretch"),
        ("added", "wall_press"),
        ("removed", "hamstring_stretch"),
        ("removed", "piriformis_stretch"),
        ("progressed", "single_leg_bridge"),
    ]
    assert (await _messages(sessions))[-1]["previous"] == "glute_bridge"
    assert len(await _audited(sessions)) == 5


async def test_another_therapist_staff_and_ended_follow_up_change_nothing(
    sessions: SessionFactory, db_url: str
) -> None:
    therapist, patient = await seed_patient(sessions)
    assert patient.id is not None
    async with sessions() as db:
        await open_programme(db, PROTOCOL, staff=therapist, patient_id=patient.id, now=NOW)
        other = StaffMember(tg_user_id=6001, role=Role.THERAPIST, name="O", created_at=NOW)
        desk = StaffMember(tg_user_id=6002, role=Role.STAFF, name="D", created_at=NOW)
        admin = StaffMember(tg_user_id=6003, role=Role.ADMIN, name="A", created_at=NOW)
        db.add_all([other, desk, admin])
        await db.commit()
    bridge = await _item(sessions, patient.id, "glute_bridge")
    before = await snapshot(db_url)
    for who in (other, desk):
        async with sessions() as db:
            change = await change_dose(
                db,
                PROTOCOL,
                staff=who,
                patient_id=patient.id,
                item_id=bridge.id or 0,
                shown=(2, 10),
                up=True,
                now=NOW,
            )
        assert change.outcome == Outcome.REFUSED
        async with sessions() as db:
            assert (
                await open_programme(db, PROTOCOL, staff=who, patient_id=patient.id, now=NOW)
                is None
            )
    # a forged row id of another patient's programme is stale, not a change
    async with sessions() as db:
        forged = await remove_exercise(
            db, PROTOCOL, staff=therapist, patient_id=patient.id, item_id=99999, now=NOW
        )
    assert forged.outcome == Outcome.STALE
    assert await snapshot(db_url) == before
    # an admin may change it
    async with sessions() as db:
        by_admin = await change_dose(
            db,
            PROTOCOL,
            staff=admin,
            patient_id=patient.id,
            item_id=bridge.id or 0,
            shown=(2, 10),
            up=False,
            now=NOW,
        )
    assert by_admin.outcome == Outcome.DONE
    # a discharged patient's programme is closed
    async with sessions() as db:
        ended = await db.get(type(patient), patient.id)
        assert ended is not None
        ended.status = PatientStatus.DISCHARGED
        await db.commit()
    async with sessions() as db:
        change = await add_exercise(
            db, PROTOCOL, staff=therapist, patient_id=patient.id, exercise="wall_press", now=NOW
        )
    assert change.outcome == Outcome.REFUSED
