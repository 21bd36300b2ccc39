"""The real `python -m bot` process: protocol time sped up, and a SIGKILL mid-burst."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import func, select

from store.db import create_engine, session_factory
from store.migrate import upgrade_async
from store.models import Alert, Checkin, OutboxMessage
from tests.fakebot import FakeBotAPI, RecordedRequest, SentMessage, SimUser
from tests.support.e2e import answer_step
from tests.support.harness import bot_process
from tests.support.journey import enroll, invite, join_and_consent
from tests.support.kills import KillLedger
from tests.support.population import checkins_received, midday_zone, populate
from tests.support.process import protocol_now

TOKEN = "123456:TEST-TOKEN-0123456789abcdefghij"
# The real process on a clock TIME_SCALE times faster than the wall: starved of CPU it falls
# behind protocol time. With pytest-xdist these run on one worker, one after another
# (xdist_group), so two such processes never compete with each other.
pytestmark = pytest.mark.xdist_group("scaled-time")

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
            elif message.text.startswith("After your session"):
                continue  # the session's aftercare advice, not a reminder
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


def _aftercare_received(fake: FakeBotAPI, tg: int) -> bool:
    return any(m.text.startswith("After your session 1") for m in fake.user(tg).inbox)


def _first_question(request: RecordedRequest) -> bool:
    """A check-in's first question, as `checkins_received` counts them."""
    return bool(request.params.get("reply_markup")) and "1/" in str(request.params.get("text"))


async def test_sigkill_during_a_burst_loses_nothing(fake: FakeBotAPI, tmp_path: Path) -> None:
    """A SIGKILL mid-burst: nothing lost, and a check-in is sent twice only if its request
    was in flight at the kill (Telegram had it, the database did not yet record it)."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    await upgrade_async(db_url)
    now = datetime.now(UTC)
    zone = midday_zone(now)
    patients = await populate(fake, db_url, count=150, now=now, tz=zone)
    extra = {"CLINIC_TIMEZONE": zone, "DISPATCH_INTERVAL_SECONDS": "0.2"}
    ledger = KillLedger(fake, db_url, counted=_first_question)
    ledger.run_starts()
    async with bot_process(fake, db_url, tmp_path, extra) as proc:
        await fake.wait_until(
            lambda: sum(checkins_received(fake, tg) for tg in patients) >= 40, timeout=60
        )
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    kill = await ledger.killed()
    delivered_at_kill = sum(checkins_received(fake, tg) for tg in patients)
    assert delivered_at_kill < len(patients)  # really killed in the middle of the burst
    async with bot_process(fake, db_url, tmp_path, extra):
        await fake.wait_until(  # each check-in, and each session 1's aftercare (due at consent)
            lambda: all(
                checkins_received(fake, tg) >= 1 and _aftercare_received(fake, tg)
                for tg in patients
            ),
            timeout=90,
        )
    duplicates = sum(checkins_received(fake, tg) - 1 for tg in patients)
    print(f"\n{ledger.summary(duplicates)}")
    assert duplicates <= kill.claimed
    assert duplicates <= kill.in_flight
    overdue = await _count(
        db_url,
        OutboxMessage.state.in_(["pending", "claimed"]),  # type: ignore[attr-defined]
        OutboxMessage.due_at <= datetime.now(UTC),  # type: ignore[operator]
    )
    assert overdue == 0  # nothing due was left behind
    assert fake.refused == []


# -- a red flag on a check-in that has closed, through the real process (issue 10) ---------

GROUP = -100556
SCALE = 3600  # an hour a second


async def _evening_checkin_left_at_q5(fake: FakeBotAPI) -> tuple[SimUser, SentMessage, str]:
    """Enroll (TRUNK session), answer the 3 h check-in up to Q5 and leave Q5 open; return
    the patient, that message and its "Yes" callback data (what a stale phone still sends)."""
    admin = fake.user(1000, "Ada")
    await admin.send("/help")
    await admin.wait_for(lambda m: "/invite" in m.text, timeout=60)
    await invite(fake, "Therapist", fake.user(THERAPIST, "Theo", last_name="Rapist"))
    await invite(fake, "Front-desk staff", fake.user(STAFF, "Sam"))
    token, _, _ = await enroll(fake, fake.user(STAFF))  # piriformis + upper back: Q5 asked
    patient = fake.user(PATIENT, "Zoe")
    await join_and_consent(patient, token)
    message = await patient.wait_for(lambda m: "1/" in m.text and m.reply_markup, timeout=60)
    while "chest pain" not in message.text.rsplit("\n", 1)[-1]:
        message = await answer_step(patient, message)
    return patient, message, message.button_data("Yes")


async def _wait_for_two_am(db_url: str, zone: str) -> None:
    """Sleep until 02:00 local of the next night on the bot's (scaled) clock."""
    local = (await protocol_now(db_url)).astimezone(ZoneInfo(zone))
    two_am = local.replace(hour=2, minute=0, second=0, microsecond=0) + timedelta(days=1)
    await asyncio.sleep((two_am - local).total_seconds() / SCALE + 0.2)


async def _h3_state(db_url: str) -> str:
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        checkin = (await db.exec(select(Checkin).where(Checkin.key == "h3"))).one()
    await engine.dispose()
    return checkin.state


async def _red_flag_tap_gets_everything(
    fake: FakeBotAPI, patient: SimUser, message: SentMessage, yes: str
) -> None:
    therapist, group = fake.user(THERAPIST), fake.group(GROUP)
    mark, therapist_mark, group_mark = patient.mark(), therapist.mark(), group.mark()
    await patient.tap_data(message.message_id, yes)
    emergency = await patient.wait_for(lambda m: "112" in m.text, after=mark, timeout=2)
    assert "emergency" in emergency.text.lower()
    await therapist.wait_for(lambda m: "URGENT" in m.text, after=therapist_mark, timeout=10)
    await group.wait_for(lambda m: "URGENT" in m.text, after=group_mark, timeout=10)


def _process_extra(zone: str) -> dict[str, str]:
    return {
        "TIME_SCALE": str(SCALE),
        "CLINIC_TIMEZONE": zone,
        "DISPATCH_INTERVAL_SECONDS": "0.05",
        "ALERT_CHAT_ID": str(GROUP),
    }


async def test_red_flag_on_the_expired_evening_checkin_at_two_am(
    fake: FakeBotAPI, tmp_path: Path
) -> None:
    """(a) Q5 = Yes tapped at 02:00 on the evening check-in that closed at 22:00."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'late.db'}"
    zone = midday_zone(datetime.now(UTC))
    fake.group(GROUP)
    async with bot_process(fake, db_url, tmp_path, _process_extra(zone)):
        patient, message, yes = await _evening_checkin_left_at_q5(fake)
        await _wait_for_two_am(db_url, zone)
        assert await _h3_state(db_url) == "expired"
        await _red_flag_tap_gets_everything(fake, patient, message, yes)
        await _ladder_goes_on_until_acknowledged(fake, db_url)
    assert fake.refused == []


async def _ladder_goes_on_until_acknowledged(fake: FakeBotAPI, db_url: str) -> None:
    """Nobody acknowledges: the ladder passes its 60-minute step and goes on (60 min + 4 h
    is five seconds at an hour a second), then stops at the first Acknowledge."""
    therapist, group = fake.user(THERAPIST), fake.group(GROUP)
    third = await therapist.wait_for(lambda m: "Escalation 3" in m.text, timeout=15)
    await group.wait_for(lambda m: "Escalation 3" in m.text, timeout=5)
    mark = therapist.mark()
    await therapist.tap(third, "Acknowledge")
    await therapist.wait_for(lambda m: "Acknowledged by" in m.text, after=mark, timeout=10)
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        alert = (await db.exec(select(Alert))).one()
    await engine.dispose()
    assert alert.state == "acknowledged" and alert.next_escalation_at is None  # no 4th step
    assert not any("Escalation 4" in m.text for m in fake.sent_messages())


async def test_red_flag_after_a_sigkill_and_restart(fake: FakeBotAPI, tmp_path: Path) -> None:
    """(b) The same, with the bot killed (SIGKILL) and restarted between the check-in and
    the tap: the button still works, the answer counts, the alert goes out."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'late-restart.db'}"
    zone = midday_zone(datetime.now(UTC))
    fake.group(GROUP)
    async with bot_process(fake, db_url, tmp_path, _process_extra(zone)) as proc:
        patient, message, yes = await _evening_checkin_left_at_q5(fake)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    asked = _calls(fake, "getMe")
    async with bot_process(fake, db_url, tmp_path, _process_extra(zone)):
        # the restarted process must be up before the night is timed: an interpreter start
        # of 10 s on a busy 2-core machine is 10 h of this clock, the whole wait to 02:00
        await fake.wait_until(lambda: _calls(fake, "getMe") > asked, timeout=90)
        await _wait_for_two_am(db_url, zone)
        assert await _h3_state(db_url) == "expired"
        await _red_flag_tap_gets_everything(fake, patient, message, yes)
    assert fake.refused == []


def _calls(fake: FakeBotAPI, method: str) -> int:
    """How many times the bot called `method` (a new process asks getMe as it starts)."""
    return sum(1 for r in fake.requests if r.method == method)
