"""Issue 10 (c) and (d) through the real `python -m bot` process at scaled time.

The database is prepared through the care layer (tests.support.population) at a chosen protocol
instant, and the clock's anchor is stored in it before the process starts, so the process's
protocol time begins where the test says (and keeps running across a restart, downtime
included — scheduler/clock.py). Timings are then read back from the outbox (`sent_at`, in
protocol time), not from the wall clock.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from scheduler.clock import Clock
from store.db import create_engine, session_factory
from store.migrate import upgrade_async
from store.models import Checkin, OutboxMessage
from tests.fakebot import FakeBotAPI, SentMessage
from tests.support.e2e import answer_step
from tests.support.harness import bot_process
from tests.support.population import THERAPIST_TG, populate

# The real process on a clock TIME_SCALE times faster than the wall: starved of CPU it falls
# behind protocol time. With pytest-xdist these run on one worker, one after another
# (xdist_group), so two such processes never compete with each other.
pytestmark = pytest.mark.xdist_group("scaled-time")

MADRID = ZoneInfo("Europe/Madrid")
PATIENT_TG = 10_000
STAFF_TG = THERAPIST_TG + 1


def madrid(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=MADRID).astimezone(UTC)


class ProtocolTime:
    """The process's protocol clock, as the test sees it from outside."""

    def __init__(self, start: datetime, scale: float) -> None:
        self.clock = Clock(scale, anchor_protocol=start)

    def now(self) -> datetime:
        return self.clock.now()

    async def store(self, db_url: str) -> None:
        engine = create_engine(db_url)
        async with session_factory(engine)() as db:
            await self.clock.save(db)
        await engine.dispose()

    async def sleep_until(self, when: datetime) -> None:
        await asyncio.sleep(self.clock.to_wall_seconds(when - self.now()))


async def prepared(
    fake: FakeBotAPI, db_url: str, *, consent_at: datetime, ended_ago: float
) -> None:
    await upgrade_async(db_url)
    await populate(fake, db_url, count=1, now=consent_at, session_hours_ago=ended_ago)
    fake.user(STAFF_TG, "Sam").started = True


async def sent_checkins(db_url: str, key: str) -> list[tuple[Checkin, OutboxMessage]]:
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        found = (
            await db.exec(
                select(Checkin, OutboxMessage)
                .join(OutboxMessage, OutboxMessage.checkin_id == Checkin.id)  # type: ignore[arg-type]
                .where(Checkin.key == key, OutboxMessage.kind == "checkin")
                .where(OutboxMessage.state == "sent")
            )
        ).all()
    await engine.dispose()
    return [(c, o) for c, o in found]


async def all_checkins(db_url: str, key: str) -> list[Checkin]:
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        found = list((await db.exec(select(Checkin).where(Checkin.key == key))).all())
    await engine.dispose()
    return found


def intro(message: SentMessage) -> str:
    return message.text.split("\n", 1)[0]


async def test_sunday_adherence_left_open_then_a_monday_session_through_the_process(
    fake: FakeBotAPI, tmp_path: Path
) -> None:
    """(c): the 3 h and 24 h check-ins of a Monday session arrive in their windows while
    the Sunday adherence question (and then the weekly check-in) is left open.

    Three runs of the process, protocol time skipped ahead between them while it is
    stopped (as the sandbox's preview does; the database holds everything due): Sunday
    evening, when it sends the adherence question; Monday from 07:00 at half an hour a
    second, when the session is recorded "just now" — whenever the process is up (its
    start-up costs protocol hours on a loaded machine) — and its 3 h check-in answered;
    and Tuesday from shortly before the 24 h check-in is due."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    # session 1 ended Monday 23 Nov 09:30; the adherence question is due Sunday 29 at 18:00
    await prepared(fake, db_url, consent_at=madrid(23, 10), ended_ago=0.5)
    patient = fake.user(PATIENT_TG)
    staff = fake.user(STAFF_TG)
    await ProtocolTime(madrid(29, 17, 55), 60.0).store(db_url)
    async with bot_process(fake, db_url, tmp_path, {"TIME_SCALE": "60"}):
        adherence = await patient.wait_for(
            lambda m: intro(m) == "Your weekly exercise check.", timeout=40
        )
    assert adherence.reply_markup is not None  # left unanswered
    [(sent, _)] = await sent_checkins(db_url, "adherence")
    assert sent.opened_at is not None and sent.opened_at.astimezone(MADRID).weekday() == 6
    await ProtocolTime(madrid(30, 7), 1800.0).store(db_url)
    extra = {"TIME_SCALE": "1800", "DISPATCH_INTERVAL_SECONDS": "0.05"}
    async with bot_process(fake, db_url, tmp_path, extra):
        mark = staff.mark()
        await staff.send("/session")
        pick = await staff.wait_for(lambda m: m.reply_markup is not None, after=mark, timeout=30)
        mark = staff.mark()
        await staff.tap(pick, pick.buttons()[0][0])
        when = await staff.wait_for(lambda m: m.reply_markup is not None, after=mark)
        mark = staff.mark()
        await staff.tap(when, "Just now")
        regions = await staff.wait_for(lambda m: m.reply_markup is not None, after=mark)
        mark = staff.mark()
        await staff.tap(regions, "Hamstrings")
        await staff.wait_for(lambda m: "✅ Hamstrings" in str(m.buttons()), after=mark)
        mark = staff.mark()
        await staff.tap(regions, "Done")
        await staff.wait_for(lambda m: "Session 2 recorded" in m.text, after=mark)
        first = await patient.wait_for(
            lambda m: intro(m).startswith("A quick check a few hours"), timeout=30, after=0
        )
        current = first
        while current.reply_markup:
            current = await answer_step(patient, current)
        await patient.wait_for(
            lambda m: intro(m).startswith("Your weekly check-in"), timeout=30, after=0
        )
    [due_h24] = [c.due_at for c in await all_checkins(db_url, "h24") if c.session_id == 2]
    await ProtocolTime(due_h24 - timedelta(minutes=45), 300.0).store(db_url)
    extra = {"TIME_SCALE": "300", "DISPATCH_INTERVAL_SECONDS": "0.1"}
    async with bot_process(fake, db_url, tmp_path, extra):
        await patient.wait_for(
            lambda m: intro(m) == "Your check-in one day after treatment.", timeout=40, after=0
        )
    [(h3, h3_row)] = [(c, o) for c, o in await sent_checkins(db_url, "h3") if c.session_id == 2]
    [(h24, h24_row)] = [(c, o) for c, o in await sent_checkins(db_url, "h24") if c.session_id == 2]
    assert h3_row.sent_at is not None and h24_row.sent_at is not None
    assert h3.due_at.astimezone(MADRID).weekday() == 0  # a Monday session's 3 h check-in
    # in their windows: on time (a dispatch pass, a few protocol minutes) and unexpired
    assert h3.due_at <= h3_row.sent_at < min(h3.due_at + timedelta(hours=1), h3.expires_at)
    assert h24.due_at <= h24_row.sent_at < h24.due_at + timedelta(hours=1)
    local_h24 = h24_row.sent_at.astimezone(MADRID)
    assert local_h24.weekday() == 1 and 9 <= local_h24.hour <= 11  # Tuesday morning window
    closed = {c.key: c.reason for c, _ in await sent_checkins(db_url, "adherence")}
    closed |= {c.key: c.reason for c, _ in await sent_checkins(db_url, "weekly")}
    assert closed == {
        "adherence": "closed for a session check-in",
        "weekly": "closed for a session check-in",
    }
    # the closed adherence question lost its answer buttons
    closed_msg = patient.message(adherence.message_id)
    assert closed_msg is not None and closed_msg.buttons() == [["Report a new symptom"]]
    assert fake.refused == []


async def _evening_session(
    fake: FakeBotAPI, tmp_path: Path, *, stop_from: datetime | None, stop_until: datetime | None
) -> OutboxMessage:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    # the session ended at 19:45: its 3 h check-in is due at 21:00 (not after 21:00)
    await prepared(fake, db_url, consent_at=madrid(23, 20, 15), ended_ago=0.5)
    # three protocol minutes a second, from 20:15: up well before 21:00 even on a slow start
    time = ProtocolTime(madrid(23, 20, 15), 180.0)
    await time.store(db_url)
    extra = {"TIME_SCALE": "180", "DISPATCH_INTERVAL_SECONDS": "0.1"}
    patient = fake.user(PATIENT_TG)
    if stop_from is not None and stop_until is not None:
        async with bot_process(fake, db_url, tmp_path, extra) as proc:
            await time.sleep_until(stop_from)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        assert not [m for m in patient.inbox if m.text.startswith("A quick check")]
        await time.sleep_until(stop_until)
    async with bot_process(fake, db_url, tmp_path, extra):
        await patient.wait_for(lambda m: m.text.startswith("A quick check"), timeout=60)
    [(_, row)] = await sent_checkins(db_url, "h3")
    assert row.sent_at is not None
    assert fake.refused == []
    return row


async def test_session_ending_19_45_gets_its_first_checkin_at_21_00(
    fake: FakeBotAPI, tmp_path: Path
) -> None:
    """(d), first half: the inclusive 21:00 boundary, through the real process."""
    row = await _evening_session(fake, tmp_path, stop_from=None, stop_until=None)
    assert madrid(23, 21) <= row.sent_at < madrid(23, 21, 5)  # type: ignore[operator]


async def test_session_ending_19_45_still_gets_it_after_a_stop_from_20_55_to_21_05(
    fake: FakeBotAPI, tmp_path: Path
) -> None:
    """(d), second half: killed at 20:55, started again at 21:05 — sent as soon as it is up
    (about 21:05 plus its start-up), inside quiet hours but judged by its 21:00 due time."""
    row = await _evening_session(
        fake, tmp_path, stop_from=madrid(23, 20, 55), stop_until=madrid(23, 21, 5)
    )
    assert madrid(23, 21, 5) <= row.sent_at < madrid(23, 22)  # type: ignore[operator]
