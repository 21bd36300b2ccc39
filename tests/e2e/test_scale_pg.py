"""Scale-out on PostgreSQL (design invariant 7): several instances share one database.

* **Several instances, one burst.** The real ``python -m bot`` process (polling the
  fake Bot API, with its own dispatcher and sweeps) runs side by side with one or two
  more instances made in this process as ``make_background(...)``: the real
  ``OutboxDispatcher`` + ``Delivery`` + sweeps, each with its own engine, connection
  pool, aiogram ``Bot`` and worker id. They do not poll: the fake, like Telegram,
  answers a second concurrent ``getUpdates`` with 409, and the bot has no webhook mode
  yet, so one instance takes the updates and every instance sends. 2,000 consented
  patients each have a check-in due at once (bulk-inserted into the real tables, planned
  by the real planner); every one must arrive exactly once.
* **The ladder and the digest under concurrency.** ``escalate_due`` from three sessions
  on three engines at once (``asyncio.gather``) takes each step of each URGENT alert once;
  ``plan_digests`` from three engines at once queues each therapist's digest once.
* **SIGKILL at random moments.** Ten bursts, each ended by a SIGKILL of the real process
  at a seeded-random point, while simulated patients tap answers: every due row is
  delivered, duplicates stay within the sends in flight at the kills (accepted by the
  fake, not yet recorded as sent: ``tests/support/kills.py``), and every answer whose tap was
  acknowledged is stored (invariant 3).
* **Database outage.** The real process reaches PostgreSQL through a TCP proxy in this
  test that can be cut: the bot keeps running, says so once, and sends what fell due
  during the outage when the database is back.

Every test here needs ``TEST_DATABASE_URL`` and is skipped with a visible reason
without it. Nothing waits by sleeping: the fake Bot API's condition, the proxy's
condition and processes' exits are awaited, with timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import socket
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from bot.callbacks import AnswerCb
from bot.texts import t
from care.alerts import AlertPolicy, escalate_due
from care.digest import plan_digests
from flows.triage import Tier
from store.db import SessionFactory, create_engine, session_factory
from store.models import (
    Alert,
    Answer,
    AppState,
    AuditEvent,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    Patient,
    Role,
    StaffMember,
)
from tests.fakebot import FakeBotAPI
from tests.support.bulk import add_due_patients
from tests.support.dbutil import PG_SKIP_REASON, pg_base_url
from tests.support.e2e import H3_INTRO, calm
from tests.support.harness import ADMIN_ID, bot_process
from tests.support.kills import KillLedger, tolerated_after_a_kill
from tests.support.population import midday_zone
from tests.support.process import CuttableProxy, extra_instance, peak_rate

# Throughput against a fake that enforces Telegram's limits: with pytest-xdist these run
# on one worker, one after another, so two bursts never share the cores (xdist_group).
pytestmark = [
    pytest.mark.skipif(pg_base_url() is None, reason=PG_SKIP_REASON),
    pytest.mark.xdist_group("telegram-limits"),
]


# ------------------------------------------------------------------------------ fixtures


# ------------------------------------------------------------------------------ population


# ------------------------------------------------------------------------------ reading


class Arrivals:
    """First questions of the 3 h check-in the fake accepted, by chat.

    Counted as requests come in (a wait predicate runs after every request, so
    rescanning the whole history each time would make a burst quadratic).
    """

    def __init__(self, fake: FakeBotAPI) -> None:
        self.fake = fake
        self.by_chat: Counter[int] = Counter()
        self.messages: list[tuple[int, int]] = []  # (chat, message id) in arrival order
        self._seen = 0

    def update(self) -> Counter[int]:
        requests = self.fake.requests
        for r in requests[self._seen :]:
            if (
                r.method == "sendMessage"
                and r.status == 200
                and H3_INTRO in str(r.params.get("text"))
            ):
                chat = int(r.params["chat_id"])
                self.by_chat[chat] += 1
                self.messages.append((chat, int(r.result["message_id"])))
        self._seen = len(requests)
        return self.by_chat

    def all_of(self, chats: Iterable[int]) -> bool:
        sends = self.update()
        return all(sends[tg] for tg in chats)


async def scalar(db_url: str, stmt: object) -> int:
    engine = create_engine(db_url)
    async with session_factory(engine)() as db:
        value = (await db.exec(stmt)).one()  # type: ignore[call-overload]
    await engine.dispose()
    return int(value)


def worker_of(proc: asyncio.subprocess.Process) -> str:
    """The worker id `make_background` gives the process (host name and pid)."""
    return f"{socket.gethostname()}:{proc.pid}"


# ------------------------------------------------------------------------------ instances


@pytest.mark.parametrize("instances", [2, 3])
async def test_instances_send_every_due_row_exactly_once(
    instances: int, fake: FakeBotAPI, pg_url: str, tmp_path: Path
) -> None:
    """2,000 check-ins due at once, the real process plus 1 or 2 in-process instances.

    Here the instances have no Redis, so each keeps its own 30 msg/s limiter and together
    they send faster than Telegram allows one bot (the fake does not enforce it here; the
    peak rate is printed). tests/scheduler/test_shared_budget.py runs instances that share the
    limits through Redis against a fake that enforces them.
    """
    now = datetime.now(UTC)
    zone = midday_zone(now)
    patients = await add_due_patients(pg_url, fake, count=2000, now=now, tz=zone, first_tg=10_000)
    env = {"CLINIC_TIMEZONE": zone, "DISPATCH_INTERVAL_SECONDS": "0.5"}
    arrivals = Arrivals(fake)
    async with bot_process(fake, pg_url, tmp_path, env) as proc:
        # the process is up and dispatching before the others join, so all share the burst
        await fake.wait_until(lambda: len(arrivals.update()) >= 1, timeout=60)
        async with contextlib.AsyncExitStack() as stack:
            for i in range(instances - 1):
                await stack.enter_async_context(extra_instance(fake, pg_url, f"extra{i}", **env))
            await fake.wait_until(
                lambda: len(arrivals.update()) >= len(patients), timeout=300
            )
        # leaving: the extra instances drained; the process gets SIGTERM and drains too
        process_worker = worker_of(proc)
    assert proc.returncode == 0
    sends = arrivals.update()
    assert set(sends) == set(patients)
    twice = {tg: n for tg, n in sends.items() if n != 1}
    assert twice == {}, f"{len(twice)} patients got their check-in more than once"
    engine = create_engine(pg_url)
    async with session_factory(engine)() as db:
        rows = (
            await db.exec(
                select(OutboxMessage.claimed_by, OutboxMessage.state, func.count())
                .where(OutboxMessage.kind == OutboxKind.CHECKIN, col(OutboxMessage.due_at) <= now)
                .group_by(col(OutboxMessage.claimed_by), col(OutboxMessage.state))
            )
        ).all()
    await engine.dispose()
    by_worker = {worker: n for worker, state, n in rows if state == OutboxState.SENT}
    assert sum(by_worker.values()) == len(patients)
    assert all(state == OutboxState.SENT for _, state, _ in rows), rows
    assert len(by_worker) == instances, by_worker  # every instance took part
    assert process_worker in by_worker
    sent_at = [r.at for r in fake.requests if r.method == "sendMessage" and r.status == 200]
    print(
        f"\n{instances} instances: sent by worker {sorted(by_worker.values(), reverse=True)}, "
        f"in {max(sent_at) - min(sent_at):.1f} s, peak {peak_rate(fake.requests)} msg/s together"
    )
    assert fake.refused == []


async def _staff(sessions: SessionFactory, now: datetime, therapists: int, admins: int) -> None:
    async with sessions() as db:
        for i in range(therapists):
            db.add(
                StaffMember(
                    tg_user_id=5000 + i, role=Role.THERAPIST, name=f"Ther {i}", created_at=now
                )
            )
        for i in range(admins):
            db.add(
                StaffMember(tg_user_id=6000 + i, role=Role.ADMIN, name=f"Ad {i}", created_at=now)
            )
        await db.commit()


@asynccontextmanager
async def engines(db_url: str, count: int) -> AsyncIterator[list[SessionFactory]]:
    """`count` engines on one database: what `count` instances would hold."""
    made = [create_engine(db_url) for _ in range(count)]
    try:
        yield [session_factory(e) for e in made]
    finally:
        for engine in made:
            await engine.dispose()


async def test_each_ladder_step_is_taken_once_by_concurrent_instances(pg_url: str) -> None:
    """200 URGENT alerts nobody acknowledged; three instances run the ladder at once,
    at the first step (15 min), again at the same instant, and at the second (60 min)."""
    created = datetime.now(UTC) - timedelta(minutes=16)
    zone = midday_zone(created)
    patients = await add_due_patients(
        pg_url, None, count=200, now=created, tz=zone, first_tg=10_000
    )
    policy = AlertPolicy(escalation_minutes=(15, 60), alert_chat_id=-100_777)
    async with engines(pg_url, 3) as factories:
        await _staff(factories[0], created, therapists=3, admins=2)
        recipients = 1 + 3 + 2  # THERAPIST_TG, three more therapists, two admins
        async with factories[0]() as db:
            ids = (await db.exec(select(Patient.id, Patient.therapist_id))).all()
            for patient_id, therapist_id in ids:
                assert patient_id is not None
                db.add(
                    Alert(
                        patient_id=patient_id,
                        therapist_id=therapist_id,
                        tier=Tier.URGENT,
                        reason_key="red_flag",
                        reasons=["numbness"],
                        created_at=created,
                        updated_at=created,
                        next_escalation_at=created + timedelta(minutes=15),
                    )
                )
            await db.commit()

        async def ladder(sessions: SessionFactory, at: datetime) -> int:
            async with sessions() as db:
                return await escalate_due(db, policy, now=at)

        async def everyone(at: datetime) -> list[int]:
            return list(await asyncio.gather(*(ladder(f, at) for f in factories)))

        first = await everyone(created + timedelta(minutes=16))
        again = await everyone(created + timedelta(minutes=16))
        second = await everyone(created + timedelta(minutes=61))
        after = await everyone(created + timedelta(minutes=200))
        async with factories[0]() as db:
            steps = Counter(
                (e.subject_id, e.detail["level"])
                for e in (
                    await db.exec(select(AuditEvent).where(AuditEvent.action == "alert_escalated"))
                ).all()
            )
            pushes = Counter(
                (r.alert_id, r.payload["level"], r.chat_id)
                for r in (
                    await db.exec(
                        select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.ALERT)
                    )
                ).all()
            )
            levels = Counter(
                (await db.exec(select(Alert.escalation_level, Alert.next_escalation_at))).all()
            )
    assert sum(first) == len(patients) and sum(second) == len(patients)
    assert sum(again) == 0 and sum(after) == 0
    print(f"\nladder steps taken per instance: first {first}, second {second}")
    assert set(steps.values()) == {1}  # no step twice
    assert len(steps) == 2 * len(patients)  # and none missed
    assert set(pushes.values()) == {1}  # one message per alert, step and person
    assert len(pushes) == 2 * len(patients) * (recipients + 1)  # + the alert group
    # both steps taken; the ladder goes on every 4 h (protocol [alerts]) until acknowledged
    assert levels == {(2, created + timedelta(minutes=60, hours=4)): len(patients)}


async def test_each_digest_is_queued_once_by_concurrent_instances(pg_url: str) -> None:
    """Forty therapists with something to report; three instances plan the 08:00 digests
    at once, on five days in a row."""
    now = datetime.now(UTC)
    zone = midday_zone(now)  # about noon: past 08:00 for everyone
    therapists = 40
    async with engines(pg_url, 3) as factories:
        await _staff(factories[0], now, therapists=therapists, admins=0)
        async with factories[0]() as db:
            staff = (
                await db.exec(select(StaffMember).where(StaffMember.role == Role.THERAPIST))
            ).all()
        for person in staff:
            assert person.id is not None
            await add_due_patients(
                pg_url, None, count=1, now=now, tz=zone,
                first_tg=20_000 + person.tg_user_id, therapist_id=person.id,
            )
        days = 5
        counts: list[list[int]] = []
        for day in range(days):
            at = now + timedelta(days=day)
            async with factories[0]() as db:  # a routine flag open each day
                for patient in (await db.exec(select(Patient))).all():
                    assert patient.id is not None
                    db.add(
                        Alert(
                            patient_id=patient.id,
                            therapist_id=patient.therapist_id,
                            tier=Tier.ROUTINE,
                            reason_key=f"stall{day}",
                            reasons=["pain has not improved"],
                            created_at=at,
                            updated_at=at,
                        )
                    )
                await db.commit()

            async def plan(sessions: SessionFactory, at: datetime = at) -> int:
                async with sessions() as db:
                    return await plan_digests(db, now=at, default_tz=ZoneInfo(zone))

            counts.append(list(await asyncio.gather(*(plan(f) for f in factories))))
        async with factories[0]() as db:
            digests = Counter(
                (r.staff_id, r.payload["date"])
                for r in (
                    await db.exec(
                        select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.DIGEST)
                    )
                ).all()
            )
            markers = (
                await db.exec(select(func.count()).where(col(AppState.key).like("digest:%")))
            ).one()
    with_patients = therapists + 1  # THERAPIST_TG has none: no digest for them
    print(f"\ndigests queued per instance and day: {counts}")
    assert [sum(day) for day in counts] == [therapists] * days
    assert set(digests.values()) == {1}
    assert len(digests) == therapists * days
    assert markers == with_patients * days


# ------------------------------------------------------------------------------ crash


class Tapper:
    """Simulated patients: each taps the first question of each check-in they receive,
    once, whether or not the bot is running (Telegram keeps the update)."""

    def __init__(self, fake: FakeBotAPI) -> None:
        self.fake = fake
        self.arrivals = Arrivals(fake)
        self.tapped = 0
        self.stopping = False

    def _untapped(self) -> bool:
        self.arrivals.update()
        return self.tapped < len(self.arrivals.messages)

    async def run(self) -> None:
        while not self.stopping:
            await self.fake.wait_until(lambda: self.stopping or self._untapped(), timeout=600)
            while self.tapped < len(self.arrivals.messages):
                chat, message_id = self.arrivals.messages[self.tapped]
                self.tapped += 1
                message = self.fake.find_message(chat, message_id)
                assert message is not None and message.edits == 0
                await self.fake.user(chat).tap(message, calm(message))

    async def stop(self) -> None:
        self.stopping = True
        await self.fake.notify()


async def test_sigkill_at_random_moments_loses_nothing(
    fake: FakeBotAPI, pg_url: str, tmp_path: Path
) -> None:
    """Ten bursts of 120 check-ins; each run of the real process is SIGKILLed after a
    seeded-random number of this burst's check-ins arrived (0 = while starting up), and
    the next run is its restart. Patients tap answers throughout."""
    rng = random.Random(20261121)
    now = datetime.now(UTC)
    zone = midday_zone(now)
    env = {"CLINIC_TIMEZONE": zone, "DISPATCH_INTERVAL_SECONDS": "0.2"}
    burst, runs = 120, 10
    patients: list[int] = []
    ledger = KillLedger(fake, pg_url, counted=lambda r: H3_INTRO in str(r.params.get("text")))
    tapper = Tapper(fake)
    tapping = asyncio.create_task(tapper.run())
    try:
        for run in range(runs):
            wave = await add_due_patients(
                pg_url, fake, count=burst, now=datetime.now(UTC), tz=zone,
                first_tg=10_000 + run * burst,
            )
            patients += wave
            kill_after = rng.randrange(burst)

            def kill_now(wave: list[int] = wave, threshold: int = kill_after) -> bool:
                sends = tapper.arrivals.update()
                return sum(1 for tg in wave if sends[tg]) >= threshold

            ledger.run_starts()
            async with bot_process(fake, pg_url, tmp_path, env) as proc:
                await fake.wait_until(kill_now, timeout=120)
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
            assert proc.returncode == -signal.SIGKILL
            await ledger.killed(worker=worker_of(proc))
        # the last restart runs until everything due went out and every tap was taken
        async with bot_process(fake, pg_url, tmp_path, env):
            await fake.wait_until(
                lambda: len(tapper.arrivals.update()) >= len(patients)
                and tapper.tapped >= len(patients)
                and not fake.updates.pending,
                timeout=180,
            )
    finally:
        await tapper.stop()
        await tapping
    sends = tapper.arrivals.update()
    assert all(sends[tg] >= 1 for tg in patients)  # the union covers every due row
    duplicates = sum(n - 1 for n in sends.values())
    print(f"\n{ledger.summary(duplicates)}")
    assert duplicates <= ledger.claimed
    # invariant 2: a kill doubles only what was in flight (Telegram had it, the database
    # did not yet record it as sent)
    assert duplicates <= ledger.in_flight
    # invariant 3: every tap the patient saw acknowledged is stored, with its value
    # (a tap answered "please send it again in a minute" — the database refused it, e.g. no
    # free connection — was not acknowledged: the patient is asked to tap again)
    again = t("try_again_soon", "en")
    acknowledged = [
        r for r in fake.callbacks.values() if r.answered and (r.answer or {}).get("text") != again
    ]
    assert acknowledged
    engine = create_engine(pg_url)
    async with session_factory(engine)() as db:
        stored = {
            (a.checkin_id, a.question_key): a.value for a in (await db.exec(select(Answer))).all()
        }
        overdue = (
            await db.exec(
                select(func.count()).where(
                    col(OutboxMessage.state).in_([OutboxState.PENDING, OutboxState.CLAIMED]),
                    col(OutboxMessage.due_at) <= datetime.now(UTC),
                )
            )
        ).one()
    await engine.dispose()
    lost = []
    for record in acknowledged:
        data = AnswerCb.unpack(record.data)
        if stored.get((data.c, data.q)) != data.v:
            lost.append(record)
    assert lost == [], f"{len(lost)} acknowledged answers not stored"
    assert overdue == 0  # nothing due was left behind
    refused = [r for r in fake.refused if not tolerated_after_a_kill(fake, r)]
    assert refused == []
    print(f"taps {tapper.tapped}, acknowledged {len(acknowledged)}, stored {len(stored)}")


# ------------------------------------------------------------------------------ outage


async def test_database_outage_is_logged_once_and_caught_up(
    fake: FakeBotAPI, pg_url: str, tmp_path: Path
) -> None:
    """The database goes away in the middle of a burst of 60 check-ins and stays away for
    many dispatch passes; more check-ins fall due meanwhile. Rows sent to Telegram whose
    "sent" could not be written are sent again afterwards — at-least-once, bounded by the
    rows claimed at the cut, as for a crash (invariant 2)."""
    target = make_url(pg_url)
    proxy = CuttableProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    now = datetime.now(UTC)
    zone = midday_zone(now)
    env = {"CLINIC_TIMEZONE": zone, "DISPATCH_INTERVAL_SECONDS": "0.2"}
    before = await add_due_patients(pg_url, fake, count=60, now=now, tz=zone, first_tg=10_000)
    arrivals = Arrivals(fake)
    log_path = tmp_path / "bot.log"
    try:
        async with bot_process(fake, proxy.url(pg_url), tmp_path, env) as proc:
            await fake.wait_until(lambda: sum(arrivals.update().values()) >= 20, timeout=60)
            proxy.cut = True
            proxy.drop()
            in_flight = await scalar(
                pg_url, select(func.count()).where(OutboxMessage.state == OutboxState.CLAIMED)
            )
            # check-ins fall due during the outage (written straight to the database)
            during = await add_due_patients(
                pg_url, fake, count=5, now=datetime.now(UTC), tz=zone, first_tg=20_000
            )
            # the bot keeps trying, pass after pass (every 0.2 s), for a while
            await proxy.wait_turned_away(50, timeout=60)
            assert proc.returncode is None  # still running
            assert not any(arrivals.update()[tg] for tg in during)
            proxy.cut = False
            await fake.wait_until(lambda: arrivals.all_of(before + during), timeout=90)
            # and it still answers people after the outage
            admin = fake.user(ADMIN_ID, "Ada")
            await admin.send("/help")
            await admin.wait_for(lambda m: "/invite" in m.text, timeout=30)
            running_log = log_path.stat().st_size  # what it logged up to the SIGTERM
        assert proc.returncode == 0
    finally:
        await proxy.stop()
    text = log_path.read_bytes()
    log = text.decode("utf-8", errors="replace").splitlines()
    outage = [line for line in log if "database unavailable" in line]
    back = [line for line in log if "database back" in line]
    errors = [
        line
        for line in text[:running_log].decode("utf-8", errors="replace").splitlines()
        if " ERROR " in line or "Traceback" in line
    ]
    assert len(outage) == 1, outage
    assert len(back) == 1, back
    assert errors == outage, "\n".join(errors[:20])  # that one line: no other error, no traceback
    per_row = [line for line in log if "deliver raised" in line]
    assert per_row == [], "\n".join(per_row[:20])  # the outage is not logged row by row
    shutdown = text[running_log:].decode("utf-8", errors="replace")
    assert "Traceback" not in shutdown, shutdown[-3000:]
    sends = arrivals.update()
    print(
        f"\nturned away {proxy.turned_away} connections; claimed at the cut {in_flight}; "
        f"sent again after the outage {sum(sends[tg] - 1 for tg in before)}"
    )
    assert all(sends[tg] == 1 for tg in during)
    assert sum(sends[tg] - 1 for tg in before) <= in_flight
    assert fake.refused == []
