"""Issue 13 item 1: two copies of a one-shot action arriving together act once.

Each case runs REPEAT times with truly concurrent updates: the `Pump` holds the taps and
feeds them to the real dispatcher(s) at once with asyncio.gather — on SQLite and
PostgreSQL, with the in-memory FSM (one instance) and with Redis (two instances on one
database, the copies spread over both). The database is asserted afterwards, and what
the people saw: the loser gets the same answer as a late duplicate.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import func
from sqlmodel import col, select

from bot.texts import t
from care.enrollment import enroll
from care.people import create_invite, find_link
from scheduler.clock import Clock
from store.db import SessionFactory, create_engine, session_factory
from store.models import (
    AuditEvent,
    Checkin,
    ConsentEvent,
    LinkToken,
    Patient,
    Role,
    StaffMember,
)
from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.dbutil import PG_SKIP_REASON, fresh_postgres, fresh_sqlite, pg_base_url
from tests.support.harness import pumped_instances
from tests.support.journey import enroll_to_baseline, invite, join_and_consent

REPEAT = 20
THERAPIST, STAFF = 2000, 3000


@pytest.fixture(
    params=[("sqlite", False), ("sqlite", True), ("postgresql", False), ("postgresql", True)],
    ids=["sqlite-memory", "sqlite-redis", "pg-memory", "pg-redis"],
)
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    backend, with_redis = request.param
    redis_url = os.environ.get("TEST_REDIS_URL")
    if with_redis and not redis_url:
        pytest.skip("TEST_REDIS_URL is not set: Redis tests skipped")
    bot_id = random.randrange(10**8, 10**9)
    fake = FakeBotAPI(token=f"{bot_id}:TEST-TOKEN-0123456789abcdefghij", bot_id=bot_id)
    await fake.start()
    try:
        if backend == "sqlite":
            database = fresh_sqlite(tmp_path)
        else:
            base = pg_base_url()
            if base is None:
                pytest.skip(PG_SKIP_REASON)
            database = fresh_postgres(base)
        async with database as db_url:
            extra = {"REDIS_URL": redis_url} if with_redis and redis_url else {}
            instances = 2 if with_redis else 1
            async with pumped_instances(fake, db_url, instances=instances, **extra) as (_, pump):
                engine = create_engine(db_url)
                therapist = fake.user(THERAPIST, "Theo", last_name="Rapist")
                staff = fake.user(STAFF, "Sam", last_name="Desk")
                await invite(fake, "Therapist", therapist)
                await invite(fake, "Front-desk staff", staff)
                yield {
                    "fake": fake,
                    "pump": pump,
                    "sessions": session_factory(engine),
                    "staff": staff,
                }
                await engine.dispose()
    finally:
        await fake.stop()
        if with_redis and redis_url:
            redis = Redis.from_url(redis_url)
            keys = [key async for key in redis.scan_iter(match=f"fsm:{bot_id}:*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()


def since(user: SimUser, mark: int) -> list[SentMessage]:
    """What the bot sent or changed in this chat after `mark` (all handled by then)."""
    return sorted((m for m in user.inbox if m.seq > mark), key=lambda m: m.seq)


async def count(sessions: SessionFactory, stmt: Any) -> int:
    async with sessions() as db:
        return int((await db.exec(stmt)).one())


async def new_patient(sessions: SessionFactory, name: str) -> tuple[int, str]:
    """A patient enrolled at the desk (care operation), with their join token."""
    async with sessions() as db:
        staff = (await db.exec(select(StaffMember).where(StaffMember.tg_user_id == STAFF))).one()
        therapist = (
            await db.exec(select(StaffMember).where(StaffMember.tg_user_id == THERAPIST))
        ).one()
        now = Clock().now()
        assert therapist.id is not None
        result = await enroll(
            db,
            staff=staff,
            display_name=name,
            therapist_id=therapist.id,
            session_ended_at=now - timedelta(minutes=30),
            regions=["piriformis"],
            baseline_pain=5,
            language="en",
            now=now,
            link_ttl=timedelta(hours=72),
        )
        assert result.patient.id is not None
        return result.patient.id, result.token


async def test_double_tap_on_i_agree_consents_once(world: dict[str, Any]) -> None:
    fake, pump, sessions = world["fake"], world["pump"], world["sessions"]
    reference: int | None = None
    for i in range(REPEAT):
        patient_id, token = await new_patient(sessions, f"Agree {i}")
        user = fake.user(5000 + i, f"P{i}")
        mark = user.mark()
        await user.start(token)
        consent = await user.wait_for(lambda m: m.reply_markup is not None, after=mark)
        mark = user.mark()
        async with pump.together():
            first = await user.tap(consent, "I agree")
            second = await user.tap(consent, "I agree")
        thanks = [m for m in since(user, mark) if "Thank you" in (m.text or "")]
        assert len(thanks) == 1, f"round {i}: {len(thanks)} thank-you messages"
        answers = {fake.callbacks[q].answer["text"] for q in (first, second)}  # type: ignore[index]
        assert t("consent_not_pending") in answers
        events = select(func.count()).where(ConsentEvent.patient_id == patient_id)
        assert await count(sessions, events) == 1
        agreed = select(func.count()).where(
            AuditEvent.action == "consent_agreed", AuditEvent.subject_id == patient_id
        )
        assert await count(sessions, agreed) == 1
        checkins = await count(
            sessions, select(func.count()).where(Checkin.patient_id == patient_id)
        )
        reference = checkins if reference is None else reference
        assert checkins == reference > 0, f"round {i}: {checkins} check-ins, not {reference}"


async def test_one_join_link_opened_by_two_accounts_binds_one(world: dict[str, Any]) -> None:
    fake, pump, sessions = world["fake"], world["pump"], world["sessions"]
    for i in range(REPEAT):
        patient_id, token = await new_patient(sessions, f"Join {i}")
        a, b = fake.user(6000 + 2 * i, "A"), fake.user(6001 + 2 * i, "B")
        marks = {a.id: a.mark(), b.id: b.mark()}
        async with pump.together():
            await a.start(token)
            await b.start(token)
        consents = {u.id for u in (a, b) if any(m.reply_markup for m in since(u, marks[u.id]))}
        assert len(consents) == 1, f"round {i}: consent shown to {consents}"
        loser: SimUser = b if a.id in consents else a
        assert [m.text for m in since(loser, marks[loser.id])] == [t("link_other_account")]
        async with sessions() as db:
            patient = await db.get(Patient, patient_id)
            link = (
                await db.exec(select(LinkToken).where(LinkToken.patient_id == patient_id))
            ).one()
        assert patient is not None and patient.tg_user_id in consents
        assert link.bound_tg_user_id == patient.tg_user_id


async def test_one_invitation_opened_by_two_accounts_registers_one(world: dict[str, Any]) -> None:
    fake, pump, sessions = world["fake"], world["pump"], world["sessions"]
    for i in range(REPEAT):
        async with sessions() as db:
            admin = (await db.exec(select(StaffMember).where(StaffMember.role == Role.ADMIN))).one()
            token = await create_invite(
                db, admin=admin, role=Role.THERAPIST, now=Clock().now(), ttl=timedelta(hours=1)
            )
        a, b = fake.user(7000 + 2 * i, "A"), fake.user(7001 + 2 * i, "B")
        marks = {a.id: a.mark(), b.id: b.mark()}
        async with pump.together():
            await a.start(token)
            await b.start(token)
        registered = {
            u.id
            for u in (a, b)
            if any("registered" in (m.text or "") for m in since(u, marks[u.id]))
        }
        assert len(registered) == 1, f"round {i}: registered {registered}"
        loser = b if a.id in registered else a
        assert [m.text for m in since(loser, marks[loser.id])] == [t("link_used")]
        staff = select(func.count()).where(col(StaffMember.tg_user_id).in_([a.id, b.id]))
        assert await count(sessions, staff) == 1
        async with sessions() as db:
            link = await find_link(db, token)
        assert link is not None and link.bound_tg_user_id in registered


async def test_double_tap_on_baseline_enrolls_once(world: dict[str, Any]) -> None:
    fake, pump, sessions = world["fake"], world["pump"], world["sessions"]
    staff: SimUser = world["staff"]
    for i in range(REPEAT):
        name = f"Baseline {i}"
        baseline_q = await enroll_to_baseline(staff, name=name, regions=("Piriformis",))
        mark = staff.mark()
        async with pump.together():
            first = await staff.tap(baseline_q, "6")
            second = await staff.tap(baseline_q, "6")
        done = [m for m in since(staff, mark) if "is enrolled" in (m.text or "")]
        assert len(done) == 1, f"round {i}: {len(done)} enrollments shown"
        answers = [fake.callbacks[q].answer for q in (first, second)]
        assert any(a is not None and a["text"] == t("button_expired") for a in answers)
        patients = select(func.count()).where(Patient.display_name == name)
        assert await count(sessions, patients) == 1
        links = (
            select(func.count())
            .select_from(LinkToken)
            .join(Patient, col(Patient.id) == LinkToken.patient_id)
            .where(Patient.display_name == name)
        )
        assert await count(sessions, links) == 1


async def test_double_erase_erases_once(world: dict[str, Any]) -> None:
    fake, pump, sessions = world["fake"], world["pump"], world["sessions"]
    for i in range(REPEAT):
        patient_id, token = await new_patient(sessions, f"Erase {i}")
        user = fake.user(8000 + i, f"E{i}")
        await join_and_consent(user, token)
        mark = user.mark()
        await user.send("/delete")
        ask = await user.wait_for(lambda m: m.reply_markup is not None, after=mark)
        mark = user.mark()
        async with pump.together():
            first = await user.tap(ask, t("btn_delete_yes"))
            second = await user.tap(ask, t("btn_delete_yes"))
        erased = [m for m in since(user, mark) if m.text == t("deleted")]
        assert len(erased) == 1, f"round {i}: told {len(erased)} times"
        answers = [fake.callbacks[q].answer for q in (first, second)]
        assert any(a is not None and a["text"] == t("button_expired") for a in answers)
        events = select(func.count()).where(
            AuditEvent.action == "patient_erased", AuditEvent.subject_id == patient_id
        )
        assert await count(sessions, events) == 1
        async with sessions() as db:
            patient = await db.get(Patient, patient_id)
        assert patient is not None and patient.status == "deleted" and patient.tg_user_id is None
