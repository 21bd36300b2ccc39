"""The outbox dispatcher: claims due rows and hands them, rate-limited, to `deliver`.

It owns the life cycle of a row once due, never its content: the bot edge's
`deliver` renders and sends a row and reports an :mod:`scheduler.outcomes`
value; this module only turns outcomes into the row's next state. It never
imports the bot (design: `scheduler` → `care` → `store`).

Restart safety (invariant 2) comes from the database alone: a pass claims rows
in one committed statement, the claims of rows in flight are kept fresh, and a crashed
worker's claims are put back to pending after `stale_after` — so a row is sent
at least once, and twice only if it was in flight at the crash.

A pass does not wait for the sends it started (issue 13 item 6): each row goes
to the limiter as its own task and queues there behind its chat, so eight
alerts to one therapist drain at that chat's one a second while the next pass,
a couple of seconds later, claims and sends everybody else's due rows. Rows in
flight stay claimed (and their claims renewed) until their outcome is written,
so no pass claims them twice, and a chat's later rows queue behind its earlier
ones at the limiter's FIFO.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel.ext.asyncio.session import AsyncSession

from care.reachability import mark_unreachable
from scheduler.clock import Clock
from scheduler.outcomes import (
    Blocked,
    Deferred,
    Deliver,
    Failed,
    Outcome,
    RetryAfter,
    Sent,
    Settled,
    Transient,
)
from scheduler.ratelimit import RateLimiter
from store import outbox
from store.db import SessionFactory
from store.models import OutboxMessage

log = logging.getLogger(__name__)

DB_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, OSError, TimeoutError)
"""What a database outage looks like from here: driver errors wrapped by SQLAlchemy,
refused or dropped connections, pool timeouts."""

TOO_LATE = "too late"


@dataclass(frozen=True)
class Backoff:
    """How a row that met a transient error (5xx, a timeout, the network) is retried: after
    `base` ** attempts seconds of wall time, at most `cap`, given up at `max_attempts`."""

    max_attempts: int = 8
    base: float = 2.0
    cap: float = 300.0

    def wait(self, attempts: int) -> float | None:
        """Seconds to wait after `attempts` tries, or None: give up."""
        return None if attempts >= self.max_attempts else min(self.cap, self.base**attempts)


class OutboxDispatcher:
    """One worker's dispatch loop body; several may run (processes on PostgreSQL).

    `worker_id` must be unique among the processes sharing the database (e.g.
    host name and process id): a pass gives back every claim still held under
    that id when it starts.

    `stale_after`, `backoff`, `spill_after` and `pass_budget` are wall-clock
    durations: they are about Telegram and crashed processes, which do not speed
    up with ``TIME_SCALE``. They are converted to protocol time when written as
    a due_at.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        deliver: Deliver,
        limiter: RateLimiter,
        *,
        worker_id: str,
        batch_size: int = 200,
        backoff: Backoff = Backoff(),
        stale_after: timedelta = timedelta(minutes=2),
        spill_after: float = 15.0,
        pass_budget: float = 60.0,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._deliver = deliver
        self._limiter = limiter
        self.worker_id = worker_id
        self.batch_size = batch_size
        self.backoff = backoff
        self.stale_after = stale_after
        self.spill_after = spill_after
        self.pass_budget = pass_budget
        self.last_tick_ok: datetime | None = None
        self._tick_lock = asyncio.Lock()
        self._closing = False
        self._waiting: dict[int, asyncio.Task[None]] = {}  # rows waiting for the limiter
        self._in_flight: set[int] = set()  # rows claimed and not yet settled, of any pass
        self._tasks: dict[asyncio.Task[None], int] = {}  # every delivery not yet finished → chat
        self._heartbeat: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()  # set while no delivery is under way
        self._idle.set()
        self._db_down = False
        self._db_errors = 0

    # ------------------------------------------------------------------ public

    async def tick(self) -> int:
        """One pass; returns how many rows it settled or handed to `deliver`.

        A pass claims a batch and starts its deliveries; it does not wait for them
        to finish. Each queues at the limiter behind its own chat, so a chat with
        a queue (eight alerts to one therapist go one a second) holds up no other
        chat: the next pass claims and sends their due rows meanwhile. While
        batches come back full (a backlog) the pass claims the next one as soon
        as about a second of sending is left, so the limiter's queue never runs
        dry and a backlog goes out at the full rate — up to `pass_budget`
        seconds, after which the scheduler's next run carries on. Before it
        claims, a pass waits until no more than about a second of sending is
        queued, so rows wait in the database (where the claim puts urgent ones
        first) rather than in memory. :meth:`settled` waits for the deliveries.

        Never raises for a database outage: the outage is logged once, the pass
        returns what it did so far (0 when the database is down from the start),
        and the next pass after the database is back carries on.
        """
        if self._closing:
            return 0
        async with self._tick_lock:
            self._db_errors = 0
            started, done = time.monotonic(), 0
            while not self._closing:
                await self._room_to_claim()
                if self._closing:
                    break
                try:
                    rows, settled, claimed = await self._claim()
                except DB_ERRORS as exc:
                    self._db_errors += 1
                    self._database_failed(exc)
                    break
                self._start_deliveries(rows)
                done += len(rows) + settled
                if (
                    claimed < self.batch_size
                    or self._db_errors
                    or time.monotonic() - started > self.pass_budget
                ):
                    break
            if self._db_errors == 0:
                self._database_ok()
            return done

    async def settled(self) -> None:
        """Wait until every delivery started so far has its outcome written.

        For tests and benchmarks that run a pass and then read what came of it
        (``await d.tick(); await d.settled()``); the scheduler never waits.
        """
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def drain(self) -> None:
        """Graceful shutdown: stop claiming, let sends already under way finish,
        give back every row this worker still holds.

        Rows still waiting for a rate-limit slot are not sent; they go back to
        pending for the next process (nothing lost, nothing doubled).
        """
        self._closing = True
        for task in list(self._waiting.values()):
            task.cancel()
        async with self._tick_lock:  # a pass under way stops claiming …
            pass
        for task in list(self._waiting.values()):  # … and what it started stops waiting
            task.cancel()
        await self.settled()  # sends under way finish and write their outcome
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        try:
            async with self._sessions() as db:
                released = await outbox.release_claims(db, self.worker_id)
            if released:
                log.info("drain: released %d claimed rows", released)
        except DB_ERRORS as exc:
            self._database_failed(exc)

    # ------------------------------------------------------------------ claiming

    async def _claim(self) -> tuple[list[OutboxMessage], int, int]:
        """Reclaim leftovers, claim a batch, expire what is too late, spill what must wait.

        Returns (rows to deliver, rows expired, rows claimed in all).
        """
        now = self._clock.now()
        async with self._sessions() as db:
            # Our own leftovers: rows whose outcome could not be written, or of a
            # pass that was cancelled. Deliveries still under way (of any pass) are kept.
            await outbox.release_claims(db, self.worker_id, keep=set(self._in_flight))
            if self._in_flight:
                # Ours, still queued or sending (a pass does not wait for them): renewed
                # first, so they are never taken for a crashed worker's and claimed again,
                # however far the clock moved since the heartbeat last ran.
                await outbox.refresh_claims(
                    db, set(self._in_flight), worker=self.worker_id, now=now
                )
            stale = await outbox.release_stale_claims(
                db, now=now, older_than=self._to_protocol(self.stale_after.total_seconds())
            )
            if stale:
                log.warning("released %d stale claims of crashed workers", stale)
            rows = await outbox.claim_due(db, now=now, limit=self.batch_size, worker=self.worker_id)
            late = [r for r in rows if r.expires_at is not None and r.expires_at <= now]
            live = [r for r in rows if r.expires_at is None or r.expires_at > now]
            live, spilled = self._split_busy_chats(live)
            await outbox.expire_or_defer(
                db,
                expired=[_id(r) for r in late],
                deferred={_id(r): now + self._to_protocol(delay) for r, delay in spilled},
                error=TOO_LATE,
                worker=self.worker_id,
            )
        for row in late:
            log.info("outbox %d %s chat %d: expired (too late)", _id(row), row.kind, row.chat_id)
        if spilled:
            log.info("%d rows of busy chats left for later", len(spilled))
        return live, len(late), len(rows)

    def _split_busy_chats(
        self, rows: list[OutboxMessage]
    ) -> tuple[list[OutboxMessage], list[tuple[OutboxMessage, float]]]:
        """Keep rows their chat can take within `spill_after`; the rest wait in the database.

        Ten alerts for one group chat take 30 s at 20/min: holding them in this
        pass would hold the pass, and every other chat's rows due meanwhile.
        """
        ahead: Counter[int] = Counter()
        keep: list[OutboxMessage] = []
        spill: list[tuple[OutboxMessage, float]] = []
        for row in rows:
            delay = self._limiter.backlog_delay(row.chat_id, ahead[row.chat_id])
            ahead[row.chat_id] += 1
            if delay > self.spill_after:
                spill.append((row, delay))
            else:
                keep.append(row)
        return keep, spill

    # ------------------------------------------------------------------ delivering

    def _start_deliveries(self, rows: list[OutboxMessage]) -> None:
        """One task per row: they queue at the limiter, so they run as fast as allowed.

        The tasks outlive the pass; their claims are renewed until they finish.
        """
        for row in rows:
            task = asyncio.create_task(self._deliver_one(row))
            self._waiting[_id(row)] = task
            self._in_flight.add(_id(row))
            self._tasks[task] = row.chat_id
            task.add_done_callback(self._delivery_done)
        if rows:
            self._idle.clear()
        if rows and (self._heartbeat is None or self._heartbeat.done()):
            self._heartbeat = asyncio.create_task(self._keep_claims_fresh())

    def _delivery_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        if not self._tasks:
            self._idle.set()
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "outcome not applied (%s); the row is retried next pass",
                type(task.exception()).__name__,
            )

    async def _room_to_claim(self) -> None:
        """Wait until the deliveries under way leave about a second of sending.

        Counted in chats, not rows: rows queued behind their chat's earlier ones
        (one chat's eight alerts) take one place in the overall ceiling at a
        time, so a slow chat does not stop the claims; `per_second` chats
        waiting is about a second of the overall ceiling.
        """
        while not self._closing:
            running = {t: c for t, c in self._tasks.items() if not t.done()}
            if len(set(running.values())) <= self._limiter.per_second:
                return
            await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)

    async def _deliver_one(self, row: OutboxMessage) -> None:
        """Wait for the row's slot, deliver it, write down what came of it."""
        row_id = _id(row)
        try:
            await self._send_and_record(row)
        except asyncio.CancelledError:
            if not self._closing:
                raise
            # drain() cancelled the wait for a slot: nothing was sent; the row
            # stays claimed until drain() gives it back.
        finally:
            self._waiting.pop(row_id, None)
            self._in_flight.discard(row_id)

    async def _send_and_record(self, row: OutboxMessage) -> None:
        """Deliver inside a rate-limit slot, then apply the outcome.

        The slot is held while `deliver` runs, so the limiter dates this message
        by Telegram's answer, not by when we started asking (see ratelimit.py).
        """
        async with self._limiter.slot(row.chat_id):
            self._waiting.pop(_id(row), None)  # from here on, drain() waits for us
            if self._closing:
                return
            try:
                outcome = await self._deliver(row)
            except DB_ERRORS as exc:  # its own reads or writes hit the outage
                self._db_errors += 1
                self._database_failed(exc)  # once for the outage, not once per row
                log.debug("outbox %d: deliver hit the database outage", _id(row), exc_info=True)
                outcome = Transient(error=f"database: {type(exc).__name__}")
            except Exception as exc:  # the contract says no raising; a bug must not stop us
                log.warning(
                    "outbox %d %s chat %d: deliver raised %s",
                    _id(row),
                    row.kind,
                    row.chat_id,
                    type(exc).__name__,
                )
                log.debug("deliver traceback", exc_info=True)
                outcome = Transient(error=f"deliver raised {type(exc).__name__}")
        try:
            await self._apply(row, outcome)
        except DB_ERRORS as exc:
            # Left claimed by us: the next pass releases it (release_claims), so a
            # not-yet-sent row is retried rather than lost.
            self._db_errors += 1
            self._database_failed(exc)

    async def _apply(self, row: OutboxMessage, outcome: Outcome) -> None:
        """Turn one outcome into the row's next state (each a unit of work of store.outbox,
        or of care.reachability for a blocked chat: this module never commits)."""
        row_id, now = _id(row), self._clock.now()
        where = f"outbox {row_id} {row.kind} chat {row.chat_id}"
        if isinstance(outcome, Sent | Settled):
            log.info("%s: %s", where, "sent" if isinstance(outcome, Sent) else "settled")
            return
        worker = self.worker_id
        async with self._sessions() as db:
            if isinstance(outcome, Deferred):
                await outbox.retry_at(db, row_id, due_at=outcome.until, worker=worker)
                log.info("%s: deferred to %s", where, outcome.until.isoformat())
            elif isinstance(outcome, RetryAfter):
                everyone = self._limiter.flood_wait(row.chat_id, outcome.seconds)
                due = now + self._to_protocol(outcome.seconds)
                await outbox.retry_at(db, row_id, due_at=due, worker=worker)
                log.warning(
                    "%s: 429, retry after %.1f s (%s paused)",
                    where,
                    outcome.seconds,
                    "every chat" if everyone else "this chat",
                )
            elif isinstance(outcome, Transient):
                await self._retry_or_fail(db, row, outcome.error, now)
            elif isinstance(outcome, Blocked):
                # first statement of this session's transaction, as mark_unreachable needs;
                # it cancels a patient's rows, this one included, before the row is failed
                if await mark_unreachable(db, chat_id=row.chat_id, now=now):
                    log.info("%s: blocked, patient marked unreachable", where)
                await outbox.fail_row(db, row_id, error=f"blocked: {outcome.error}", worker=worker)
            elif isinstance(outcome, Failed):
                await outbox.fail_row(db, row_id, error=outcome.error, worker=worker)
                log.warning("%s: failed permanently", where)

    async def _retry_or_fail(
        self, db: AsyncSession, row: OutboxMessage, error: str, now: datetime
    ) -> None:
        attempts = row.attempts + 1
        where = f"outbox {_id(row)} {row.kind} chat {row.chat_id}"
        wait = self.backoff.wait(attempts)
        if wait is None:
            await outbox.fail_row(
                db,
                _id(row),
                attempts=attempts,
                error=f"gave up after {attempts} attempts: {error}",
                worker=self.worker_id,
            )
            log.warning("%s: failed after %d attempts", where, attempts)
            return
        await outbox.retry_at(
            db,
            _id(row),
            due_at=now + self._to_protocol(wait),
            attempts=attempts,
            error=error,
            worker=self.worker_id,
        )
        log.info("%s: transient error, attempt %d, retry in %.0f s", where, attempts, wait)

    async def _keep_claims_fresh(self) -> None:
        """Renew our claims while rows are in flight, so no one takes them as a crash's.

        Runs while any delivery is under way — past the pass that started it, as long
        as a busy chat's queue takes — and ends when none is (the next delivery
        started starts it again).
        """
        period = max(self.stale_after.total_seconds() / 4, 0.05)
        while self._in_flight:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await self._idle.wait()  # every delivery done: nothing left to renew
            if not self._in_flight:
                return
            with contextlib.suppress(*DB_ERRORS):
                async with self._sessions() as db:
                    await outbox.refresh_claims(
                        db, set(self._in_flight), worker=self.worker_id, now=self._clock.now()
                    )

    # ------------------------------------------------------------------ helpers

    def _to_protocol(self, wall_seconds: float) -> timedelta:
        """A wall-clock wait as the stretch of protocol time it covers."""
        return timedelta(seconds=wall_seconds * self._clock.scale)

    def _database_failed(self, exc: BaseException) -> None:
        """Log an outage once, not on every pass while it lasts."""
        if not self._db_down:
            self._db_down = True
            log.error(
                "database unavailable or failing (%s); dispatch paused until it is back",
                type(exc).__name__,
            )
        else:
            log.debug("database still unavailable (%s)", type(exc).__name__)

    def _database_ok(self) -> None:
        if self._db_down:
            self._db_down = False
            log.warning("database back; dispatch resumed")
        self.last_tick_ok = datetime.now(UTC)


def _id(row: OutboxMessage) -> int:
    assert row.id is not None, "claimed rows come from the database"
    return row.id
