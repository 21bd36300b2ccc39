"""Staff leave (issue 11 item 2) in care/: ADMIN_IDS at every contact, deactivation,
reassignment — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from care import staff as care_staff
from care.people import ensure_admin, staff_by_tg, sync_admin_role
from store.db import SessionFactory
from store.models import AuditEvent, OutboxMessage, Patient, Role, StaffMember
from tests.support.alerts import ADA, MONDAY_10, OLGA, POLICY, THEO, URGENT, clinic, pushes, raise_
from tests.support.dbutil import snapshot


async def member(sessions: SessionFactory, tg: int) -> StaffMember:
    async with sessions() as db:
        found = await staff_by_tg(db, tg)
        assert found is not None
        return found


async def actions(sessions: SessionFactory) -> list[str]:
    async with sessions() as db:
        return [e.action for e in (await db.exec(select(AuditEvent))).all()]


async def test_removed_from_admin_ids_loses_the_role_at_next_contact(
    sessions: SessionFactory,
) -> None:
    await clinic(sessions)
    later = MONDAY_10 + timedelta(days=1)
    async with sessions() as db:
        # Olga (a therapist) was added to ADMIN_IDS, Ada was an admin from the start
        olga, changed = await sync_admin_role(
            db,
            await staff_by_tg(db, OLGA),
            tg_user_id=OLGA,
            listed=True,
            name="Olga",
            language="en",
            now=MONDAY_10,
        )
        assert changed and olga is not None and olga.role == Role.ADMIN
        # both are taken out of ADMIN_IDS: their next update demotes them
        for tg in (OLGA, ADA):
            _, changed = await sync_admin_role(
                db,
                await staff_by_tg(db, tg),
                tg_user_id=tg,
                listed=False,
                name="x",
                language="en",
                now=later,
            )
            assert changed
    olga, ada = await member(sessions, OLGA), await member(sessions, ADA)
    assert (olga.role, olga.active) == (Role.THERAPIST, True)  # back to her own role
    assert ada.active is False and ada.deactivated_at == later  # no other role: no access
    assert (await actions(sessions)).count("admin_demoted") == 2
    # and a contact while listed again makes Ada an active admin
    async with sessions() as db:
        again, created = await ensure_admin(
            db, tg_user_id=ADA, name="Ada", language="en", now=later
        )
        assert not created and again.active and again.role == Role.ADMIN


async def test_deactivation_reroutes_open_alerts_and_lists_patients(
    sessions: SessionFactory,
) -> None:
    await clinic(sessions)
    await raise_(sessions, URGENT, now=MONDAY_10)
    assert await pushes(sessions, MONDAY_10) == [THEO, -100]
    theo, ada = await member(sessions, THEO), await member(sessions, ADA)
    later = MONDAY_10 + timedelta(minutes=5)
    async with sessions() as db:
        seen = await care_staff.preview(db, admin=ada, staff_id=theo.id or 0, admin_ids={ADA})
        assert (seen.open_alerts, seen.patients) == (1, 1)
        done = await care_staff.deactivate(
            db, POLICY, admin=ada, staff_id=theo.id or 0, admin_ids={ADA}, now=later
        )
    assert done.moved_alerts == 1 and [p.id for p in done.patients] == [1]
    # the other therapist and the admin get the card; nothing more goes to Theo
    assert sorted(await pushes(sessions, later)) == [ADA, OLGA]
    theo = await member(sessions, THEO)
    assert theo.active is False and theo.deactivated_by == ada.id
    async with sessions() as db:
        to_theo = await db.exec(
            select(OutboxMessage).where(
                OutboxMessage.chat_id == THEO, col(OutboxMessage.state) == "pending"
            )
        )
        assert to_theo.all() == []
    assert "staff_deactivated" in await actions(sessions)


@pytest.mark.parametrize("who", ["therapist", "self", "listed", "again"])
async def test_refused_deactivations_change_nothing(
    sessions: SessionFactory, db_url: str, who: str
) -> None:
    await clinic(sessions)
    await raise_(sessions, URGENT, now=MONDAY_10)
    theo, olga, ada = [await member(sessions, tg) for tg in (THEO, OLGA, ADA)]
    actor, target, expected = {
        "therapist": (olga, theo, "not_allowed"),  # a forged button from a non-admin
        "self": (ada, ada, "staff_not_self"),
        "listed": (ada, olga, "staff_listed_admin"),
        "again": (ada, theo, "staff_already_inactive"),
    }[who]
    if who == "again":
        async with sessions() as db:
            await care_staff.deactivate(
                db, POLICY, admin=ada, staff_id=theo.id or 0, admin_ids=set(), now=MONDAY_10
            )
    before = await snapshot(db_url)
    async with sessions() as db:
        with pytest.raises(care_staff.StaffError, match=expected):
            await care_staff.deactivate(
                db,
                POLICY,
                admin=actor,
                staff_id=target.id or 0,
                admin_ids={ADA, OLGA},
                now=MONDAY_10,
            )
    assert await snapshot(db_url) == before


async def test_reassign_moves_the_patient_and_tells_them(
    sessions: SessionFactory, db_url: str
) -> None:
    await clinic(sessions)
    theo, olga = await member(sessions, THEO), await member(sessions, OLGA)
    staff = await member(sessions, 3000)
    before = await snapshot(db_url)
    async with sessions() as db:  # Olga may not take Theo's patient, the desk may not move it
        for actor in (olga, staff):
            with pytest.raises(care_staff.StaffError, match="not_allowed"):
                await care_staff.reassign(
                    db, actor=actor, patient_id=1, therapist_id=olga.id or 0, now=MONDAY_10
                )
        with pytest.raises(care_staff.StaffError, match="reassign_bad_target"):
            await care_staff.reassign(
                db, actor=theo, patient_id=1, therapist_id=staff.id or 0, now=MONDAY_10
            )
    assert await snapshot(db_url) == before
    async with sessions() as db:  # Theo hands his patient over
        _, target = await care_staff.reassign(
            db, actor=theo, patient_id=1, therapist_id=olga.id or 0, now=MONDAY_10
        )
    assert target.id == olga.id
    async with sessions() as db:
        stored = await db.get(Patient, 1)
        assert stored is not None and stored.therapist_id == olga.id
        told = (
            await db.exec(select(OutboxMessage).where(OutboxMessage.kind == "therapist_changed"))
        ).all()
        assert [(m.chat_id, m.payload) for m in told] == [(4000, {"therapist_id": olga.id})]
    assert "patient_reassigned" in await actions(sessions)
