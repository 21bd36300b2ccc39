"""The outbox dispatcher with a hand-held clock and a recording `deliver`, rows to claim,
and a patient to send them to (tests/scheduler/test_dispatcher.py, and the operations
tests that run a dispatcher)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from scheduler.clock import Clock
from scheduler.dispatcher import OutboxDispatcher
from scheduler.outcomes import Outcome, Sent
from scheduler.ratelimit import RateLimiter
from store import outbox
from store.db import SessionFactory
from store.models import OutboxMessage, Patient, PatientStatus, Role, StaffMember

NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
THERAPIST_CHAT = 5000
PATIENT_CHAT = 7001


class ManualClock(Clock):
    """Protocol time that moves only when the test says so."""

    def __init__(self, scale: float = 1.0) -> None:
        self.wall_now = NOW
        super().__init__(scale, anchor_wall=NOW, anchor_protocol=NOW, wall=lambda: self.wall_now)

    def advance(self, wall: timedelta) -> None:
        self.wall_now += wall


class JumpTime:
    """A limiter time source whose sleeps return at once, moving time forward."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, delay: float) -> None:
        self.t += max(delay, 0.0)
        await asyncio.sleep(0)


def jump_limiter() -> RateLimiter:
    jt = JumpTime()
    return RateLimiter(now=jt.now, sleep=jt.sleep, safety_margin=0.0)


class Recorder:
    """A deliver function: records rows, answers `choose(row)`, commits Sent like the bot edge."""

    def __init__(
        self, sessions: SessionFactory, clock: Clock, choose: Callable[[OutboxMessage], Outcome]
    ) -> None:
        self.sessions, self.clock, self.choose = sessions, clock, choose
        self.calls: list[OutboxMessage] = []

    async def __call__(self, row: OutboxMessage) -> Outcome:
        self.calls.append(row)
        outcome = self.choose(row)
        if isinstance(outcome, Sent):
            assert row.id is not None
            async with self.sessions() as db:
                await outbox.record_sent(db, row.id, now=self.clock.now(), message_id=row.id)
        return outcome

    @property
    def ids(self) -> list[int]:
        return [r.id for r in self.calls if r.id is not None]


def dispatcher(
    sessions: SessionFactory,
    clock: Clock,
    deliver: Callable[[OutboxMessage], Awaitable[Outcome]],
    **kw: Any,
) -> OutboxDispatcher:
    kw.setdefault("worker_id", "w1")
    limiter = kw.pop("limiter", None) or jump_limiter()
    return OutboxDispatcher(sessions, clock, deliver, limiter, **kw)


async def run_pass(d: OutboxDispatcher) -> int:
    """A dispatch pass and the deliveries it started, their outcomes written.

    A pass does not wait for its sends (issue 13 item 6); these tests read what came
    of them, so they wait explicitly.
    """
    done = await d.tick()
    await d.settled()
    return done


async def add_rows(sessions: SessionFactory, *rows: OutboxMessage) -> list[int]:
    async with sessions() as db:
        db.add_all(rows)
        await db.commit()
        return [r.id for r in rows if r.id is not None]


async def stored_row(sessions: SessionFactory, row_id: int | None) -> OutboxMessage:
    """An outbox row as the database has it now."""
    async with sessions() as db:
        found = await db.get(OutboxMessage, row_id)
        assert found is not None, f"outbox row {row_id} is gone"
        return found


def row(chat_id: int = 100, due: timedelta = timedelta(0), **kw: Any) -> OutboxMessage:
    kw.setdefault("kind", "checkin")
    kw.setdefault("created_at", NOW)
    return OutboxMessage(chat_id=chat_id, due_at=NOW + due, payload={"text": "secret"}, **kw)


async def seed_patient(
    sessions: SessionFactory, *, now: datetime = NOW, consented_at: datetime | None = None
) -> tuple[StaffMember, Patient]:
    """A therapist and their active patient (chats THERAPIST_CHAT and PATIENT_CHAT)."""
    async with sessions() as db:
        therapist = StaffMember(
            tg_user_id=THERAPIST_CHAT, role=Role.THERAPIST, name="T", created_at=now
        )
        db.add(therapist)
        await db.flush()
        assert therapist.id is not None
        patient = Patient(
            therapist_id=therapist.id,
            status=PatientStatus.ACTIVE,
            tg_user_id=PATIENT_CHAT,
            baseline_pain=5,
            created_at=now,
            consented_at=consented_at,
        )
        db.add(patient)
        await db.commit()
        return therapist, patient
