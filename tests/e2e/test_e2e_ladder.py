"""The URGENT ladder through the real process at TIME_SCALE=3600 (an hour a second)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from store.db import create_engine, session_factory
from store.models import Alert, OutboxMessage
from tests.fakebot import FakeBotAPI
from tests.support.e2e import answer_step
from tests.support.harness import bot_process
from tests.support.journey import enroll, invite, join_and_consent
from tests.support.population import midday_zone
from tests.support.process import protocol_now

# The real process on a clock TIME_SCALE times faster than the wall: starved of CPU it falls
# behind protocol time. With pytest-xdist these run on one worker, one after another
# (xdist_group), so two such processes never compete with each other.
pytestmark = pytest.mark.xdist_group("scaled-time")

TOKEN = "123456:TEST-TOKEN-0123456789abcdefghij"
ADMIN, THERAPIST, STAFF, PATIENT, GROUP = 1000, 2000, 3000, 4000, -100555
SCALE = 3600


async def test_cauda_equina_at_two_in_the_night_climbs_the_ladder(
    fake: FakeBotAPI, tmp_path: Path
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'ladder.db'}"
    zone = midday_zone(datetime.now(UTC))
    extra = {
        "TIME_SCALE": str(SCALE),
        "CLINIC_TIMEZONE": zone,
        "DISPATCH_INTERVAL_SECONDS": "0.05",
        "ALERT_CHAT_ID": str(GROUP),
        "ESCALATION_MINUTES": "15,60,240",
    }
    group = fake.group(GROUP)
    async with bot_process(fake, db_url, tmp_path, extra):
        admin = fake.user(ADMIN, "Ada")
        await admin.send("/help")
        await admin.wait_for(lambda m: "/invite" in m.text, timeout=60)
        await invite(fake, "Therapist", fake.user(THERAPIST, "Theo", last_name="Rapist"))
        await invite(fake, "Front-desk staff", fake.user(STAFF, "Sam"))
        token, _, _ = await enroll(fake, fake.user(STAFF), regions=("Hamstrings",))
        patient = fake.user(PATIENT, "Zoe")
        await join_and_consent(patient, token)
        # the 3 h check-in: all fine
        first = await patient.wait_for(lambda m: "1/" in m.text and m.reply_markup, timeout=60)
        while first.reply_markup:
            first = await answer_step(patient, first)
        # the 24 h check-in: fine until the cauda equina question, left for the night
        day = await patient.wait_for(
            lambda m: m.text.startswith("Your check-in one day") and m.reply_markup, timeout=90
        )
        while "genitals" not in day.text.rsplit("\n", 1)[-1]:
            day = await answer_step(patient, day)
        day_zone = ZoneInfo(zone)
        local = (await protocol_now(db_url)).astimezone(day_zone)
        two_am = local.replace(hour=2, minute=0, second=0, microsecond=0) + timedelta(days=1)
        await asyncio.sleep((two_am - local).total_seconds() / SCALE)  # wait for 02:00 on the clock
        live = [m for m in patient.inbox if m.reply_markup and "Yes" in str(m.buttons())][-1]
        therapist = fake.user(THERAPIST)
        mark, patient_mark, group_mark = therapist.mark(), patient.mark(), group.mark()
        await patient.tap(live, "Yes")
        tapped_at = (await protocol_now(db_url)).astimezone(day_zone)
        assert tapped_at.hour in (2, 3)  # in the night
        emergency = await patient.wait_for(lambda m: "112" in m.text, after=patient_mark)
        assert "emergency" in emergency.text.lower()
        first_alert = await therapist.wait_for(lambda m: "URGENT" in m.text, after=mark)
        await group.wait_for(lambda m: "URGENT" in m.text, after=group_mark)
        # nobody acknowledges: 15 and 60 protocol minutes later it goes out again
        second = await therapist.wait_for(
            lambda m: "Escalation 2" in m.text, after=mark, timeout=30
        )
        await admin.wait_for(lambda m: "Escalation 2" in m.text, after=mark)
        assert any("Escalation 1" in m.text for m in therapist.inbox if m.seq > mark)
        edit_mark = fake.seq
        await therapist.tap(second, "Acknowledge")
        copies = [m for m in fake.sent_messages() if "URGENT" in m.text]
        await fake.wait_until(
            lambda: all("Acknowledged by Theo Rapist" in m.text for m in copies), timeout=90
        )
        assert all(m.seq > edit_mark for m in copies) and len(copies) >= 6
        assert first_alert.buttons() == [["History"]]
        # the 240-minute step never comes: wait for the evening exercise reminder instead
        evening = patient.mark()
        await patient.wait_for(lambda m: "exercise" in m.text.lower(), after=evening, timeout=60)
        assert not any("Escalation 3" in m.text for m in fake.sent_messages())
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        alert = (await db.exec(select(Alert))).one()
        assert alert.tier == "urgent" and alert.reason_key == "q6_cauda_equina"
        assert alert.state == "acknowledged" and alert.next_escalation_at is None
        steps = (await db.exec(select(OutboxMessage).where(OutboxMessage.kind == "alert"))).all()
        for level, minutes in ((1, 15), (2, 60)):
            # when the ladder decided the step (sending then follows Telegram's real-time
            # rate limits, which at an hour a second span protocol hours)
            decided = [r.created_at for r in steps if r.payload.get("level") == level]
            assert decided and all(r.sent_at for r in steps if r.payload.get("level") == level)
            delay = (min(decided) - alert.created_at) / timedelta(minutes=1)
            # never early; and before the next step is due (at an hour a second, a busy
            # machine can delay a sweep by many protocol minutes)
            assert minutes <= delay < {15: 60, 60: 240}[minutes]
    await engine.dispose()
    assert fake.refused == []
