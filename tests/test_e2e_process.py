"""The real `python -m bot` process: protocol time sped up, and a SIGKILL mid-burst."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import func, select

from store.db import create_engine, session_factory
from store.migrate import upgrade_async
from store.models import OutboxMessage
from tests.fakebot import FakeBotAPI
from tests.harness import bot_process
from tests.journey import enroll, invite, join_and_consent
from tests.population import populate
from tests.test_e2e_checkins import answer_step
from tests.test_e2e_faults import checkins_received, midday_zone

TOKEN = "123456:TEST-TOKEN-0123456789abcdefghij"
THERAPIST, STAFF, PATIENT = 2000, 3000, 4000


async def test_scaled_time_three_days_through_the_real_process(
    fake: FakeBotAPI, tmp_path: Path
) -> None:
    """TIME_SCALE=1800: two days of aftercare in about two minutes, answered by tapping."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'scaled.db'}"
    zone = midday_zone(datetime.now(UTC))
    extra = {"TIME_SCALE": "1800", "CLINIC_TIMEZONE": zone, "DISPATCH_INTERVAL_SECONDS": "0.1"}
    async with bot_process(fake, db_url, tmp_path, extra):
        admin = fake.user(1000, "Ada")
        await admin.send("/help")
        await admin.wait_for(lambda m: "/invite" in m.text, timeout=60)
        await invite(fake, "Therapist", fake.user(THERAPIST, "Theo", last_name="Rapist"))
        await invite(fake, "Front-desk staff", fake.user(STAFF, "Sam"))
        token, _, _ = await enroll(fake, fake.user(STAFF), regions=("Hamstrings",))
        patient = fake.user(PATIENT, "Zoe")
        await join_and_consent(patient, token)
        intros: list[str] = []
        reminders = 0
        handled: set[int] = set()
        while len(intros) < 3 or reminders < 2:
            message = await patient.wait_for(
                lambda m: m.message_id not in handled and m.edits == 0, after=0, timeout=120
            )
            handled.add(message.message_id)
            if message.reply_markup and "1/" in message.text:
                intros.append(message.text.split("\n", 1)[0])
                current = message
                while current.reply_markup:
                    current = await answer_step(patient, current)
                assert "Thank you" in current.text
            elif "exercise" in message.text.lower() or "walk" in message.text.lower():
                reminders += 1
    assert intros == [
        "A quick check a few hours after your treatment. One tap per question.",
        "Your check-in one day after treatment.",
        "Your check-in two days after treatment.",
    ]
    assert fake.refused == []


async def _count(db_url: str, *where: object) -> int:
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        value = (
            await db.exec(select(func.count()).select_from(OutboxMessage).where(*where))  # type: ignore[arg-type]
        ).one()
    await engine.dispose()
    return int(value)


async def test_sigkill_during_a_burst_loses_nothing(fake: FakeBotAPI, tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    await upgrade_async(db_url)
    now = datetime.now(UTC)
    zone = midday_zone(now)
    patients = await populate(fake, db_url, count=150, now=now, tz=zone)
    extra = {"CLINIC_TIMEZONE": zone, "DISPATCH_INTERVAL_SECONDS": "0.2"}
    async with bot_process(fake, db_url, tmp_path, extra) as proc:
        await fake.wait_until(
            lambda: sum(checkins_received(fake, tg) for tg in patients) >= 40, timeout=60
        )
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    delivered_at_kill = sum(checkins_received(fake, tg) for tg in patients)
    assert delivered_at_kill < len(patients)  # really killed in the middle of the burst
    in_flight = await _count(db_url, OutboxMessage.state == "claimed")
    async with bot_process(fake, db_url, tmp_path, extra):
        await fake.wait_until(
            lambda: all(checkins_received(fake, tg) >= 1 for tg in patients), timeout=90
        )
    duplicates = sum(checkins_received(fake, tg) - 1 for tg in patients)
    assert duplicates <= in_flight
    overdue = await _count(
        db_url,
        OutboxMessage.state.in_(["pending", "claimed"]),  # type: ignore[attr-defined]
        OutboxMessage.due_at <= datetime.now(UTC),  # type: ignore[operator]
    )
    assert overdue == 0  # nothing due was left behind
    assert fake.refused == []
