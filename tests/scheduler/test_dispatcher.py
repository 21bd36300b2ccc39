"""The outbox dispatcher against real databases (SQLite, and PostgreSQL when configured).

`deliver` is the one seam: each test hands the dispatcher a function that
records the rows it is given and answers a chosen outcome, exactly as the bot
edge will. The database is real; the rate limiter is real but runs on a
jump-ahead clock so its waits cost no wall time. Protocol time is a clock
whose wall source the test moves by hand.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from care.reachability import mark_unreachable
from scheduler.dispatcher import TOO_LATE, Backoff, OutboxDispatcher
from scheduler.jobs import DISPATCH_JOB_ID, make_scheduler, shutdown
from scheduler.outcomes import (
    Blocked,
    Deferred,
    Failed,
    Outcome,
    RetryAfter,
    Sent,
    Transient,
)
from scheduler.ratelimit import RateLimiter, mark_answered
from store import outbox
from store.db import SessionFactory, create_engine, session_factory
from store.models import (
    AuditEvent,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    Patient,
    PatientStatus,
)
from tests.support.dispatch import (
    NOW,
    PATIENT_CHAT,
    THERAPIST_CHAT,
    JumpTime,
    ManualClock,
    Recorder,
    add_rows,
    dispatcher,
    jump_limiter,
    row,
    run_pass,
    seed_patient,
    stored_row,
)

UNREACHABLE = OutboxKind.PATIENT_UNREACHABLE


def always(outcome: Outcome) -> Callable[[OutboxMessage], Outcome]:
    return lambda _row: outcome


# ---------------------------------------------------------------------------- due rows


async def test_delivers_due_rows_and_leaves_future_ones(sessions: SessionFactory) -> None:
    clock = ManualClock()
    early, on_time, later = await add_rows(
        sessions, row(101, -timedelta(minutes=5)), row(102), row(103, timedelta(minutes=1))
    )
    deliver = Recorder(sessions, clock, always(Sent()))
    assert await run_pass(dispatcher(sessions, clock, deliver)) == 2
    assert sorted(deliver.ids) == [early, on_time]
    assert (await stored_row(sessions, early)).state == OutboxState.SENT
    pending = await stored_row(sessions, later)
    assert pending.state == OutboxState.PENDING and pending.claimed_by is None


async def test_urgent_rows_first_then_oldest(sessions: SessionFactory) -> None:
    clock = ManualClock()
    old, urgent, newer = await add_rows(
        sessions,
        row(101, -timedelta(minutes=10)),
        row(102, -timedelta(minutes=1), urgent=True),
        row(103, -timedelta(minutes=5)),
    )
    deliver = Recorder(sessions, clock, always(Sent()))
    d = dispatcher(sessions, clock, deliver, batch_size=2)
    assert await run_pass(d) == 3  # a full batch means a backlog: the pass claims again
    assert deliver.ids == [urgent, old, newer]


async def test_expired_rows_are_settled_too_late_without_delivery(
    sessions: SessionFactory,
) -> None:
    clock = ManualClock()
    stale, fresh = await add_rows(
        sessions,
        row(101, -timedelta(days=3), expires_at=NOW - timedelta(days=2)),
        row(102, -timedelta(hours=1), expires_at=NOW + timedelta(hours=1)),
    )
    deliver = Recorder(sessions, clock, always(Sent()))
    assert await run_pass(dispatcher(sessions, clock, deliver)) == 2
    assert deliver.ids == [fresh]
    expired = await stored_row(sessions, stale)
    assert (expired.state, expired.last_error) == (OutboxState.EXPIRED, TOO_LATE)


# ---------------------------------------------------------------------------- outcomes


async def test_retry_after_reschedules_in_protocol_time_and_keeps_attempts(
    sessions: SessionFactory,
) -> None:
    clock = ManualClock(scale=60.0)  # a wall second is a protocol minute
    (row_id,) = await add_rows(sessions, row(101, attempts=2))
    limiter = jump_limiter()
    deliver = Recorder(sessions, clock, always(RetryAfter(seconds=5)))
    await run_pass(dispatcher(sessions, clock, deliver, limiter=limiter))
    again = await stored_row(sessions, row_id)
    assert again.state == OutboxState.PENDING
    assert again.attempts == 2
    assert again.due_at == NOW + timedelta(minutes=5)
    assert limiter.paused_for(101) == pytest.approx(5.0)  # that chat waits …
    assert limiter.paused_for() == 0.0  # … the others do not (issue 13 item 6)


async def test_a_per_chat_429_pauses_that_chat_only_and_two_chats_429_pause_everyone(
    sessions: SessionFactory,
) -> None:
    """Issue 13 item 6: a 429 on a message to chat A used to pause every send for the
    retry time. Now chat B's row, due a second later, goes out at once, with a real limiter
    on the test's time source; a second chat refused while A is paused is the bot's
    flood, and pauses everybody."""
    clock = ManualClock()
    jt = JumpTime()
    limiter = RateLimiter(now=jt.now, sleep=jt.sleep)
    (a,) = await add_rows(sessions, row(201))
    sent_at: dict[int, float] = {}

    def answer(r: OutboxMessage) -> Outcome:
        assert r.id is not None
        if r.chat_id == 201:
            return RetryAfter(seconds=30)
        sent_at[r.id] = jt.now()
        return Sent(r.id)

    deliver = Recorder(sessions, clock, answer)
    d = dispatcher(sessions, clock, deliver, limiter=limiter)
    assert await run_pass(d) == 1  # A: 429, retry after 30 s
    (b,) = await add_rows(sessions, row(202, due=timedelta(seconds=1)))
    clock.advance(timedelta(seconds=1))
    assert await run_pass(d) == 1
    assert sent_at[b] < 1.0  # B was not held for A's 30 s
    assert (await stored_row(sessions, b)).state == OutboxState.SENT
    assert (await stored_row(sessions, a)).state == OutboxState.PENDING  # A waits its 30 s
    assert limiter.paused_for(201) == pytest.approx(30.0, abs=1.0)
    assert limiter.paused_for(202) == 0.0
    # now a second chat refused while A is still paused: the whole bot is flooding
    (c,) = await add_rows(sessions, row(203, due=timedelta(seconds=1)))
    deliver.choose = lambda r: RetryAfter(seconds=20)
    assert await run_pass(d) == 1
    assert (await stored_row(sessions, c)).state == OutboxState.PENDING
    assert limiter.paused_for() == pytest.approx(20.0, abs=1.0)


async def test_transient_backs_off_then_fails_at_max_attempts(sessions: SessionFactory) -> None:
    clock = ManualClock()
    (row_id,) = await add_rows(sessions, row(101))
    deliver = Recorder(sessions, clock, always(Transient(error="502 Bad Gateway")))
    d = dispatcher(sessions, clock, deliver, backoff=Backoff(max_attempts=3, base=2.0, cap=3.0))

    assert await run_pass(d) == 1
    first = await stored_row(sessions, row_id)
    assert (first.state, first.attempts) == (OutboxState.PENDING, 1)
    assert first.due_at == NOW + timedelta(seconds=2)
    assert await run_pass(d) == 0  # backing off: not due yet

    clock.advance(timedelta(seconds=2))
    assert await run_pass(d) == 1
    second = await stored_row(sessions, row_id)
    assert (second.state, second.attempts) == (OutboxState.PENDING, 2)
    assert second.due_at == clock.now() + timedelta(seconds=3)  # 2**2 capped at 3

    clock.advance(timedelta(seconds=3))
    assert await run_pass(d) == 1
    last = await stored_row(sessions, row_id)
    assert (last.state, last.attempts) == (OutboxState.FAILED, 3)
    assert last.last_error is not None and "502 Bad Gateway" in last.last_error
    assert len(deliver.calls) == 3


async def test_deferred_and_failed(sessions: SessionFactory) -> None:
    clock = ManualClock()
    later = NOW + timedelta(hours=9)
    deferred, failed = await add_rows(sessions, row(101, kind="quiet"), row(102, kind="bad"))
    outcomes: dict[str, Outcome] = {
        "quiet": Deferred(until=later, reason="quiet hours"),
        "bad": Failed(error="Bad Request: chat not found"),
    }
    deliver = Recorder(sessions, clock, lambda r: outcomes[r.kind])
    await run_pass(dispatcher(sessions, clock, deliver))
    d = await stored_row(sessions, deferred)
    assert (d.state, d.due_at, d.attempts) == (OutboxState.PENDING, later, 0)
    f = await stored_row(sessions, failed)
    assert (f.state, f.last_error) == (OutboxState.FAILED, "Bad Request: chat not found")


async def test_deliver_raising_counts_as_transient(sessions: SessionFactory) -> None:
    clock = ManualClock()
    (row_id,) = await add_rows(sessions, row(101))

    async def broken(_row: OutboxMessage) -> Outcome:
        raise RuntimeError("bug")

    assert await run_pass(dispatcher(sessions, clock, broken)) == 1
    again = await stored_row(sessions, row_id)
    assert (again.state, again.attempts) == (OutboxState.PENDING, 1)


async def test_blocked_marks_patient_unreachable_once(sessions: SessionFactory) -> None:
    clock = ManualClock()
    therapist, patient = await seed_patient(sessions)
    first, second, future, alert = await add_rows(
        sessions,
        row(PATIENT_CHAT, patient_id=patient.id),
        row(PATIENT_CHAT, -timedelta(minutes=1), patient_id=patient.id),
        row(PATIENT_CHAT, timedelta(hours=5), patient_id=patient.id),
        row(THERAPIST_CHAT, timedelta(hours=1), kind="alert", patient_id=patient.id),
    )
    deliver = Recorder(sessions, clock, always(Blocked(error="Forbidden: bot was blocked")))
    await run_pass(dispatcher(sessions, clock, deliver))

    assert sorted(deliver.ids) == [first, second]  # both rows got the 403
    async with sessions() as db:
        p = await db.get(Patient, patient.id)
        assert p is not None and p.status == PatientStatus.UNREACHABLE
        notices = (
            await db.exec(select(OutboxMessage).where(OutboxMessage.kind == UNREACHABLE))
        ).all()
        audits = (
            await db.exec(select(AuditEvent).where(AuditEvent.action == "patient_unreachable"))
        ).all()
    assert len(notices) == 1
    notice = notices[0]
    assert (notice.chat_id, notice.staff_id, notice.patient_id) == (
        THERAPIST_CHAT,
        therapist.id,
        patient.id,
    )
    assert notice.payload == {"patient_id": patient.id}
    assert (notice.state, notice.urgent, notice.due_at) == (OutboxState.PENDING, False, NOW)
    assert len(audits) == 1
    for row_id in (first, second, future):
        cancelled = await stored_row(sessions, row_id)
        assert cancelled.state == OutboxState.CANCELLED
        assert cancelled.last_error == "patient blocked the bot"
    # about them, not to them
    assert (await stored_row(sessions, alert)).state == OutboxState.PENDING


async def test_mark_unreachable_concurrently_writes_one_notice(sessions: SessionFactory) -> None:
    await seed_patient(sessions)

    async def call() -> bool:
        async with sessions() as db:
            return await mark_unreachable(db, chat_id=PATIENT_CHAT, now=NOW)

    results = await asyncio.gather(*(call() for _ in range(4)))
    assert sorted(results) == [False, False, False, True]
    async with sessions() as db:
        count = len(
            (await db.exec(select(OutboxMessage).where(OutboxMessage.kind == UNREACHABLE))).all()
        )
    assert count == 1
    async with sessions() as db:
        assert await mark_unreachable(db, chat_id=PATIENT_CHAT, now=NOW) is False
        assert await mark_unreachable(db, chat_id=99999, now=NOW) is False


async def test_blocked_by_a_staff_chat_fails_the_row(sessions: SessionFactory) -> None:
    clock = ManualClock()
    await seed_patient(sessions)
    (row_id,) = await add_rows(sessions, row(THERAPIST_CHAT, kind="alert"))
    deliver = Recorder(sessions, clock, always(Blocked(error="Forbidden")))
    await run_pass(dispatcher(sessions, clock, deliver))
    failed = await stored_row(sessions, row_id)
    assert failed.state == OutboxState.FAILED
    async with sessions() as db:
        assert not (
            await db.exec(select(OutboxMessage).where(OutboxMessage.kind == UNREACHABLE))
        ).all()


# ---------------------------------------------------------------------------- claims


async def test_stale_claims_of_a_crashed_worker_are_released(sessions: SessionFactory) -> None:
    clock = ManualClock()
    crashed, live = await add_rows(
        sessions,
        row(
            101, state=OutboxState.CLAIMED, claimed_by="dead", claimed_at=NOW - timedelta(minutes=3)
        ),
        row(
            102,
            state=OutboxState.CLAIMED,
            claimed_by="alive",
            claimed_at=NOW - timedelta(seconds=30),
        ),
    )
    deliver = Recorder(sessions, clock, always(Sent()))
    assert await run_pass(dispatcher(sessions, clock, deliver)) == 1
    assert deliver.ids == [crashed]
    assert (await stored_row(sessions, live)).claimed_by == "alive"


async def test_stale_after_is_wall_time_even_when_protocol_time_runs_fast(
    sessions: SessionFactory,
) -> None:
    clock = ManualClock(scale=3600.0)
    (row_id,) = await add_rows(
        sessions,
        row(
            101,
            state=OutboxState.CLAIMED,
            claimed_by="other",
            claimed_at=NOW - timedelta(minutes=30),
        ),  # 30 protocol minutes = 0.5 wall s
    )
    deliver = Recorder(sessions, clock, always(Sent()))
    assert await run_pass(dispatcher(sessions, clock, deliver)) == 0
    assert (await stored_row(sessions, row_id)).claimed_by == "other"


async def test_two_workers_deliver_each_row_exactly_once(db_url: str) -> None:
    engines = [create_engine(db_url), create_engine(db_url)]
    try:
        factories = [session_factory(e) for e in engines]
        clock = ManualClock()
        ids = await add_rows(factories[0], *(row(10_000 + i) for i in range(300)))
        recorders = [Recorder(f, clock, always(Sent())) for f in factories]
        both_claimed = asyncio.Event()
        started: list[set[int | None]] = [set(), set()]

        def gated(n: int) -> Callable[[OutboxMessage], Awaitable[Outcome]]:
            """Hold deliveries until both workers hold rows, so the two truly overlap."""

            async def deliver(r: OutboxMessage) -> Outcome:
                started[n].add(r.id)
                if all(started):
                    both_claimed.set()
                await both_claimed.wait()
                return await recorders[n](r)

            return deliver

        workers = [
            dispatcher(f, clock, gated(n), worker_id=f"w{n}", batch_size=40)
            for n, f in enumerate(factories)
        ]
        for _ in range(20):
            done = await asyncio.gather(*(run_pass(w) for w in workers))
            if sum(done) == 0:
                break
        delivered = Counter(recorders[0].ids + recorders[1].ids)
        assert sorted(delivered) == sorted(ids)
        assert set(delivered.values()) == {1}
        assert all(r.calls for r in recorders), "both workers took part"
        async with factories[0]() as db:
            states = Counter((await db.exec(select(OutboxMessage.state))).all())
        assert states == {OutboxState.SENT: 300}
    finally:
        for e in engines:
            await e.dispose()


async def test_claim_skips_rows_locked_by_another_transaction(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks and SKIP LOCKED are PostgreSQL's; SQLite has one writer")
    engine = create_engine(db_url)
    try:
        sessions = session_factory(engine)
        ids = await add_rows(
            sessions, *(row(100 + i, -timedelta(minutes=10 - i)) for i in range(4))
        )
        async with sessions() as holder:
            locked = (
                await holder.exec(
                    select(col(OutboxMessage.id))
                    .where(col(OutboxMessage.id).in_(ids[:2]))
                    .with_for_update()
                )
            ).all()
            assert sorted(i for i in locked if i is not None) == ids[:2]
            async with sessions() as db:
                claimed = await outbox.claim_due(db, now=NOW, limit=10, worker="w")
            assert [r.id for r in claimed] == ids[2:]  # skipped, without waiting
            await holder.rollback()
    finally:
        await engine.dispose()


async def test_claim_reads_an_index_not_the_table(sessions: SessionFactory, db_url: str) -> None:
    """The claim's statements range-scan an outbox index; they never scan the whole table."""
    async with sessions() as db:
        conn = await db.connection()
        if db_url.startswith("sqlite"):
            compiled = outbox.due_ids(NOW, 200).compile(dialect=conn.dialect)
            params = tuple(
                "2026-11-21 15:00:00.000000" if "due_at" in k else compiled.params[k]
                for k in compiled.positiontup or ()
            )
            plans = [
                (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), params)).all()
            ]
        else:
            await conn.exec_driver_sql("SET enable_seqscan = off")
            plans = []
            for urgent in (True, False):
                stmt = outbox.due_ids_of(NOW, 200, urgent=urgent).with_for_update(skip_locked=True)
                compiled = stmt.compile(dialect=conn.dialect)
                params = tuple(
                    NOW.replace(tzinfo=None) if "due_at" in k else compiled.params[k]
                    for k in compiled.positiontup or ()
                )
                plans.append((await conn.exec_driver_sql("EXPLAIN " + str(compiled), params)).all())
    for plan in plans:
        text_plan = " ".join(str(line) for line in plan)
        # an index range scan (which of the two outbox indexes is the planner's choice on a
        # small table; bench/dispatch.py measures the claim on a million rows)
        assert "ix_outbox_claim" in text_plan or "ix_outbox_due" in text_plan, text_plan
        assert "SCAN outbox" not in text_plan and "Seq Scan" not in text_plan, text_plan


# ---------------------------------------------------------------------------- busy chats


async def test_rows_a_busy_chat_cannot_take_soon_wait_in_the_database(
    sessions: SessionFactory,
) -> None:
    clock = ManualClock()
    group = -100500
    ids = await add_rows(sessions, *(row(group, -timedelta(minutes=5 - i)) for i in range(3)))
    deliver = Recorder(sessions, clock, always(Sent()))
    assert await run_pass(dispatcher(sessions, clock, deliver, spill_after=4.0)) == 2
    assert deliver.ids == ids[:2]  # at 20/min the third could only go ~6 s later
    spilled = await stored_row(sessions, ids[2])
    assert spilled.state == OutboxState.PENDING
    assert spilled.due_at == NOW + timedelta(seconds=6)


# ---------------------------------------------------------------------------- one slow chat

THERAPIST_A = 5101
PATIENT_B = 7102
PATIENT_C = 7103
PATIENT_D = 7104
GUARD = 5.0  # seconds of wall time: a guard against a pass that never returns, not a timing check


class StillTime:
    """Limiter time that stands still until the test moves it; sleepers wake when it passes
    their deadline. A chat's queue then advances only as the test says, so what went out
    when is exact, whatever the machine's speed."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, delay: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self.t + max(delay, 0.0), fut)
        self.sleepers.append(entry)
        try:
            await fut
        finally:
            self.sleepers.remove(entry)

    def advance_to(self, t: float) -> None:
        self.t = max(self.t, t)
        for at, fut in list(self.sleepers):
            if at <= self.t and not fut.done():
                fut.set_result(None)


async def until(predicate: Callable[[], bool]) -> None:
    """Wait for something the code under test does next, polling: what is awaited (a row
    sent, a pause taken, a task parked) has no event to wait on. The timeout is a guard,
    not a timing check."""
    async with asyncio.timeout(30):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.005)


async def next_pass(d: OutboxDispatcher, st: StillTime) -> int:
    """One dispatch pass, as the scheduler's interval runs it.

    A pass that does not come back while the limiter's time stands still is waiting for a
    chat's queue (before issue 13 item 6, every pass waited for its slowest send). Then
    time moves on a second at a time until it does, so the test can say how late that
    made the other chats, instead of hanging.
    """
    task = asyncio.create_task(d.tick())
    await asyncio.wait({task}, timeout=GUARD)
    while not task.done():
        st.advance_to(st.t + 1.0)
        await asyncio.wait({task}, timeout=0.2)
    return task.result()


def sent_at_on(
    st: StillTime, refuse: Callable[[OutboxMessage], Outcome | None]
) -> tuple[dict[int, float], Callable[[OutboxMessage], Outcome]]:
    """(row id → limiter time it went out, the answer function); `refuse` may answer a 429."""
    sent_at: dict[int, float] = {}

    def answer(r: OutboxMessage) -> Outcome:
        assert r.id is not None
        refused = refuse(r)
        if refused is not None:
            return refused
        sent_at[r.id] = st.now()
        mark_answered()  # Telegram answered: the send is dated now, not after the commit
        return Sent(message_id=r.id)

    return sent_at, answer


async def test_a_checkin_is_not_held_behind_another_chats_queue(sessions: SessionFactory) -> None:
    """Issue 13 item 6: eight alerts to therapist A go at A's pace of one a second. Patient
    B's check-in, due when A's second alert goes, is sent at once — not after A's queue
    (before: the pass waited for its slowest send, and B went 6 s late). A's alerts still go
    one a second, in order, each once, and the claims of the rows waiting are renewed."""
    clock = ManualClock()
    st = StillTime()
    limiter = RateLimiter(now=st.now, sleep=st.sleep)
    alerts = await add_rows(sessions, *(row(THERAPIST_A, kind="alert") for _ in range(8)))
    sent_at, answer = sent_at_on(st, lambda r: None)
    deliver = Recorder(sessions, clock, answer)
    d = dispatcher(sessions, clock, deliver, limiter=limiter, stale_after=timedelta(seconds=1))
    first = asyncio.create_task(d.tick())  # the scheduler's pass that finds A's eight alerts
    await until(lambda: len(sent_at) == 1)
    st.advance_to(1.0)
    clock.advance(timedelta(seconds=1))
    await until(lambda: len(sent_at) == 2)  # A's second alert; six still wait their turn
    (b,) = await add_rows(sessions, row(PATIENT_B, due=timedelta(seconds=1)))  # due now

    assert await next_pass(d, st) == 1
    await until(lambda: b in sent_at)
    late = sent_at[b] - 1.0
    assert late <= 1.0, f"B's check-in went {late:.0f} s late, behind A's queue"
    assert list(sent_at) == [*alerts[:2], b]  # B went ahead of A's other six
    assert await first == 8
    async with sessions() as db:  # the rows still queued for A stay claimed by this worker
        waiting = [await db.get(OutboxMessage, i) for i in alerts[2:]]
    assert all(w is not None and w.state == OutboxState.CLAIMED for w in waiting)
    assert all(w is not None and w.claimed_by == "w1" for w in waiting)
    assert await d.tick() == 0  # another pass does not claim them twice

    clock.advance(timedelta(seconds=10))  # far past stale_after: only renewal keeps them

    async def renewed() -> bool:
        async with sessions() as db:
            held = [await db.get(OutboxMessage, i) for i in alerts[2:]]
        return all(h is not None and h.claimed_at == clock.now() for h in held)

    async with asyncio.timeout(30):  # the heartbeat runs every stale_after / 4 meanwhile
        while True:
            if await renewed():
                break
            await asyncio.sleep(0.05)
    other = dispatcher(
        sessions, clock, deliver, limiter=limiter, worker_id="w2", stale_after=timedelta(seconds=1)
    )
    assert await other.tick() == 0  # not taken for a crashed worker's
    for n in range(3, 9):  # A's queue drains at its pace
        st.advance_to(st.t + 1.0)
        await until(lambda n=n: len(sent_at) == n + 1)  # type: ignore[misc]
    await d.settled()
    a_times = [sent_at[i] for i in alerts]
    assert a_times == sorted(a_times), "A's alerts in order"
    assert all(y - x >= 1.0 for x, y in itertools.pairwise(a_times)), "one a second"
    assert Counter(deliver.ids) == Counter([*alerts, b])  # each once
    for i in [*alerts, b]:
        assert (await stored_row(sessions, i)).state == OutboxState.SENT


async def test_a_per_chat_429_on_a_does_not_delay_b_but_a_global_one_delays_both(
    sessions: SessionFactory,
) -> None:
    """Issue 13 item 6: A's first alert is answered 429, retry after 30 s; A's other alerts
    wait out that pause. B's check-in, due a second later, goes at once (before: the pass
    waited for A's paused queue, and B went 30 s late). Then a 429 judged the bot's (a
    second chat refused while one is paused) delays everybody, B's next check-in too."""
    clock = ManualClock()
    st = StillTime()
    limiter = RateLimiter(now=st.now, sleep=st.sleep)
    refused: set[int] = set()

    def refuse(r: OutboxMessage) -> Outcome | None:
        assert r.id is not None
        if r.id in refused:
            refused.discard(r.id)  # refused once
            return RetryAfter(seconds=30 if r.chat_id == THERAPIST_A else 20)
        return None

    a1, a2, a3 = await add_rows(sessions, *(row(THERAPIST_A, kind="alert") for _ in range(3)))
    refused.add(a1)
    sent_at, answer = sent_at_on(st, refuse)
    deliver = Recorder(sessions, clock, answer)
    d = dispatcher(sessions, clock, deliver, limiter=limiter)
    first = asyncio.create_task(d.tick())
    await until(lambda: len(deliver.calls) == 1 and limiter.paused_for(THERAPIST_A) > 0)
    assert limiter.paused_for() == 0.0  # A's flood, not the bot's
    st.advance_to(1.0)
    clock.advance(timedelta(seconds=1))
    (b,) = await add_rows(sessions, row(PATIENT_B, due=timedelta(seconds=1)))

    assert await next_pass(d, st) == 1
    await until(lambda: b in sent_at)
    late = sent_at[b] - 1.0
    assert late <= 1.0, f"B's check-in went {late:.0f} s late, behind A's 429"
    assert a2 not in sent_at and a3 not in sent_at  # A waits its 30 s
    assert await first == 3
    st.advance_to(30.0)
    await until(lambda: a2 in sent_at)
    st.advance_to(31.0)
    await until(lambda: a3 in sent_at)
    await d.settled()
    assert sent_at[a2] >= 30.0 and sent_at[a3] >= 31.0
    assert (await stored_row(sessions, a1)).state == OutboxState.PENDING  # back at its retry time

    # a global flood: C and D refused together — the second while the first is paused is
    # the bot's flood — and every chat waits the 20 s, B's next check-in too
    c, d_ = await add_rows(sessions, row(PATIENT_C), row(PATIENT_D))
    refused.update({c, d_})
    assert await next_pass(d, st) == 2
    await until(lambda: len(refused) == 0 and limiter.paused_for() > 0)
    global_end = st.t + 20.0
    (b2,) = await add_rows(sessions, row(PATIENT_B))
    assert await next_pass(d, st) == 1
    await until(lambda: b2 in sent_at or bool(st.sleepers))
    assert b2 not in sent_at, "a global 429 pauses B as well"
    st.advance_to(global_end)
    await until(lambda: b2 in sent_at)
    await d.settled()
    assert sent_at[b2] >= global_end
    assert (await stored_row(sessions, c)).state == OutboxState.PENDING


# ---------------------------------------------------------------------------- outages, drain


class Switchable:
    """A session factory the test can point at a dead database and back."""

    def __init__(self, good: SessionFactory, bad: SessionFactory) -> None:
        self.good, self.bad, self.use_bad = good, bad, True

    def __call__(self) -> Any:
        return self.bad() if self.use_bad else self.good()


async def test_database_outage_is_logged_once_and_recovers(
    sessions: SessionFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    (row_id,) = await add_rows(sessions, row(101))
    dead = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    switch = Switchable(sessions, session_factory(dead))
    deliver = Recorder(sessions, clock, always(Sent()))
    d = dispatcher(switch, clock, deliver)  # type: ignore[arg-type]
    caplog.set_level(logging.INFO, logger="scheduler.dispatcher")

    assert [await run_pass(d) for _ in range(3)] == [0, 0, 0]
    assert d.last_tick_ok is None
    outage_logs = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(outage_logs) == 1

    switch.use_bad = False
    assert await run_pass(d) == 1
    assert d.last_tick_ok is not None
    assert (await stored_row(sessions, row_id)).state == OutboxState.SENT
    assert all("secret" not in r.getMessage() for r in caplog.records)  # no payload in logs
    await dead.dispose()


async def test_drain_finishes_sends_under_way_and_releases_the_rest(
    sessions: SessionFactory,
) -> None:
    clock = ManualClock()
    first, second = await add_rows(sessions, row(101), row(101))  # same chat: one waits
    called, release = asyncio.Event(), asyncio.Event()

    async def slow(r: OutboxMessage) -> Outcome:
        called.set()
        await release.wait()
        assert r.id is not None
        async with sessions() as db:
            await outbox.mark_sent(db, r.id, now=clock.now(), message_id=1)
            await db.commit()
        return Sent(message_id=1)

    never = asyncio.Event()

    async def frozen_sleep(_delay: float) -> None:
        await never.wait()  # the second row waits for its chat until cancelled

    limiter = RateLimiter(now=lambda: 0.0, sleep=frozen_sleep)
    d = dispatcher(sessions, clock, slow, limiter=limiter)
    tick = asyncio.create_task(d.tick())
    await called.wait()
    drain = asyncio.create_task(d.drain())
    await asyncio.sleep(0)
    release.set()
    await drain
    await tick
    assert (await stored_row(sessions, first)).state == OutboxState.SENT
    rest = await stored_row(sessions, second)
    assert (rest.state, rest.claimed_by) == (OutboxState.PENDING, None)
    assert await d.tick() == 0  # a drained dispatcher claims nothing more


# ---------------------------------------------------------------------------- scheduler


async def test_scheduler_runs_a_tick_at_start_with_safe_job_options(
    sessions: SessionFactory,
) -> None:
    clock = ManualClock()
    await add_rows(sessions, row(101, -timedelta(hours=1)))  # fell due while the bot was down
    delivered = asyncio.Event()

    async def deliver(r: OutboxMessage) -> Outcome:
        assert r.id is not None
        async with sessions() as db:
            await outbox.mark_sent(db, r.id, now=clock.now(), message_id=1)
            await db.commit()
        delivered.set()
        return Sent()

    async def sweep() -> None:
        return None

    d = dispatcher(sessions, clock, deliver)
    scheduler = make_scheduler(d, interval_seconds=3600, extra_jobs=[(sweep, 60.0, "sweep")])
    job = scheduler.get_job(DISPATCH_JOB_ID)
    assert job is not None
    assert (job.max_instances, job.coalesce) == (1, True)
    assert job.misfire_grace_time is not None and job.misfire_grace_time <= 3600
    assert {j.id for j in scheduler.get_jobs()} == {DISPATCH_JOB_ID, "sweep"}
    scheduler.start()
    try:
        await asyncio.wait_for(delivered.wait(), timeout=30)  # a guard, not a timing check
    finally:
        await shutdown(scheduler, d)
    assert not scheduler.running


async def test_shutdown_lets_a_running_sweep_finish_instead_of_cancelling_it(
    sessions: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGTERM while a sweep is half done: it completes (its work committed, nothing
    logged as an error), rather than being cut off with a traceback in the log."""
    started = asyncio.Event()
    finished: list[bool] = []

    async def sweep() -> None:
        started.set()
        await asyncio.sleep(1.0)  # a sweep's work, still under way when shutdown begins
        finished.append(True)

    async def deliver(r: OutboxMessage) -> Outcome:
        return Sent()

    d = dispatcher(sessions, ManualClock(), deliver)
    scheduler = make_scheduler(d, interval_seconds=3600, extra_jobs=[(sweep, 3600.0, "sweep")])
    job = scheduler.get_job("sweep")
    assert job is not None
    job.modify(next_run_time=datetime.now(UTC))
    scheduler.start()
    await asyncio.wait_for(started.wait(), timeout=30)  # a guard, not a timing check
    with caplog.at_level(logging.DEBUG):
        await asyncio.wait_for(shutdown(scheduler, d), timeout=30)
    assert finished == [True]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], [
        r.getMessage() for r in caplog.records
    ]
