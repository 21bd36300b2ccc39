"""Many consented patients at once, made through the care layer (the desk's UI is tested
elsewhere), for bursts, faults and crash tests; a zone where it is midday now, and the
check-ins a patient received. tests/support/bulk.py inserts patients faster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from care.enrollment import decide_consent, enroll, open_join_link
from care.people import find_link
from flows.loader import load_protocol
from store.db import create_engine, session_factory
from store.models import Role, StaffMember
from tests.fakebot import FakeBotAPI, SimUser

THERAPIST_TG = 2000
#: the therapist and the front-desk member `clinic` registers (the Redis FSM and outage tests)
DESK_THERAPIST, DESK_STAFF = 2000, 3000


async def populate(
    fake: FakeBotAPI,
    db_url: str,
    *,
    count: int,
    now: datetime,
    first_tg: int = 10_000,
    session_hours_ago: float = 3.0,
    tz: str = "Europe/Madrid",
) -> list[int]:
    """`count` patients who opened their link (their chats are started) and agreed.

    Their session ended `session_hours_ago` before `now`, so with the default 3 h the
    first check-in of every one of them is due at once: a dispatch burst.
    """
    protocol = load_protocol()
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    tg_ids: list[int] = []
    async with sessions() as db:
        therapist = StaffMember(
            tg_user_id=THERAPIST_TG, role=Role.THERAPIST, name="Theo Rapist", created_at=now
        )
        staff = StaffMember(
            tg_user_id=THERAPIST_TG + 1, role=Role.STAFF, name="Sam", created_at=now
        )
        db.add_all([therapist, staff])
        await db.commit()
        assert therapist.id is not None
        for i in range(count):
            tg = first_tg + i
            fake.user(tg, f"P{i}").started = True  # they opened the link on their phone
            result = await enroll(
                db,
                staff=staff,
                display_name=f"Patient {i}",
                therapist_id=therapist.id,
                session_ended_at=now - timedelta(hours=session_hours_ago),
                regions=["piriformis"],
                baseline_pain=5,
                language="en",
                now=now,
                link_ttl=timedelta(hours=72),
            )
            link = await find_link(db, result.token)
            assert link is not None
            joined = await open_join_link(db, link, tg_user_id=tg, language="en", now=now)
            assert joined.patient is not None
            await decide_consent(
                db,
                protocol,
                patient=joined.patient,
                agree=True,
                text_version="test",
                default_tz=ZoneInfo(tz),
                now=now,
            )
            tg_ids.append(tg)
    fake.user(THERAPIST_TG, "Theo").started = True
    await engine.dispose()
    return tg_ids


def midday_zone(now: datetime) -> str:
    """A fixed-offset zone where it is about noon now, so the 3 h check-in is never
    pushed out by the evening rules whatever the hour the test runs at."""
    offset = (12 - now.astimezone(UTC).hour + 12) % 24 - 12  # −12 … +11
    return "Etc/GMT" + ("-" if offset >= 0 else "+") + str(abs(offset))


def checkins_received(fake: FakeBotAPI, tg: int) -> int:
    return sum(1 for m in fake.user(tg).inbox if m.reply_markup and "1/" in m.text)


async def clinic(fake: FakeBotAPI, db_url: str) -> SimUser:
    """A therapist and a front-desk member, registered; returns the desk's person."""
    engine = create_engine(db_url)
    now = datetime.now(UTC)
    async with session_factory(engine)() as db:
        db.add(StaffMember(tg_user_id=DESK_THERAPIST, role=Role.THERAPIST, name="Theo Rapist",
                           created_at=now))
        db.add(StaffMember(tg_user_id=DESK_STAFF, role=Role.STAFF, name="Sam", created_at=now))
        await db.commit()
    await engine.dispose()
    return fake.user(DESK_STAFF, "Sam")
