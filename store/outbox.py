"""Queue operations on the outbox table: claim, release, settle and cancel rows.

The outbox is the schedule (design invariant 1), so these are the only
statements that move a row through pending → claimed → sent/failed/expired/
cancelled, or move it in time (design invariant 9: one owner for each change of
state; procrastinate's ``manager.py`` is the model — one module issues every job
query). Callers in ``care/``, ``bot/`` and ``scheduler/`` say *what* happened to a
row by calling a function named for it; none of them writes ``state`` itself.
Three kinds of functions live here, on purpose with different transaction rules:

* queue maintenance — :func:`claim_due`, :func:`release_stale_claims`,
  :func:`release_claims`, :func:`refresh_claims` — commits itself, because a
  claim is only a claim once other workers can see it (and, on PostgreSQL,
  the row locks taken by ``SKIP LOCKED`` must be let go at once);
* per-row marks — :func:`mark_sent`, :func:`reschedule`, :func:`settle` — join
  the caller's transaction, so the bot edge can mark a row sent in the same
  commit as the side effects of sending it (a check-in opened, a message id);
* bulk moves decided by ``care/`` — :func:`cancel_queued`, :func:`cancel_for_chat`,
  :func:`bring_forward` — join the caller's transaction too (a patient stopped,
  erased, a new session planned: the rows go in the same commit as the cause);
* one row's outcome on its own — :func:`record_sent`, :func:`cancel_row`,
  :func:`fail_row`, :func:`retry_at`, :func:`expire_or_defer` — commits itself: the
  dispatcher and the bot edge write an outcome that nothing else goes with, and they
  never commit (invariant 9), so each is one named unit of work here.

The per-row marks are guarded by ``state = 'claimed'`` (and by the worker when
given; :func:`mark_sent` without a worker also takes a row handed back to pending): a
row that someone else already settled — cancelled because the patient
blocked the bot or was erased while its message was on its way, say — is never
brought back to life by a late outcome. Every error text is clipped here
(:func:`clip_error`), to the width of the column.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, union_all, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from store.models import OutboxMessage, OutboxState

ERROR_MAX = 300  # the width of outbox.last_error

_state = col(OutboxMessage.state)
_due_at = col(OutboxMessage.due_at)
_id = col(OutboxMessage.id)
_claimed_by = col(OutboxMessage.claimed_by)
_claimed_at = col(OutboxMessage.claimed_at)
_urgent = col(OutboxMessage.urgent)


def clip_error(text: str) -> str:
    """Fit an error into ``last_error`` (PostgreSQL would refuse a longer string)."""
    return text if len(text) <= ERROR_MAX else text[: ERROR_MAX - 1] + "…"


def due_ids_of(now: datetime, limit: int, *, urgent: bool) -> SelectOfScalar[int | None]:
    """Ids of the oldest due pending rows of one urgency.

    Split by urgency on purpose: each half is an equality on ``state`` and
    ``urgent`` plus a range on ``due_at``, which an index on
    ``(state, urgent, due_at)`` answers by reading `limit` entries — constant
    time however large a backlog grows. With only ``ix_outbox_due (state,
    due_at)`` each half is still a range on that index (no table scan, no sort
    of the whole due set); only the urgent half has to look at every due row.

    No ``id`` tie-break in the order: quiet hours send a night's check-ins to the
    same 08:00, and sorting thousands of equal ``due_at`` by id (PostgreSQL)
    took 15–25 ms a claim at 100,000 patients; the index's order serves instead.
    """
    return (
        select(_id)
        .where(_state == OutboxState.PENDING, _urgent == urgent, _due_at <= now)
        .order_by(_due_at)
        .limit(limit)
    )


def due_ids(now: datetime, limit: int) -> SelectOfScalar[Any]:
    """Ids of the due pending rows to claim: urgent first, then oldest due (one statement)."""
    halves = [
        due_ids_of(now, limit, urgent=u).add_columns(_urgent, _due_at).subquery()
        for u in (True, False)
    ]
    both = union_all(*(select(h.c.id, h.c.urgent, h.c.due_at) for h in halves)).subquery()
    return select(both.c.id).order_by(both.c.urgent.desc(), both.c.due_at, both.c.id).limit(limit)


def _sort(rows: Sequence[OutboxMessage]) -> list[OutboxMessage]:
    """RETURNING gives rows in no particular order; restore urgent-first, oldest-first."""
    return sorted(rows, key=lambda r: (not r.urgent, r.due_at, r.id or 0))


async def _lock_due(db: AsyncSession, now: datetime, limit: int, *, urgent: bool) -> list[int]:
    """Lock due rows of one urgency; rows another worker is claiming are skipped, not awaited."""
    stmt = due_ids_of(now, limit, urgent=urgent).with_for_update(skip_locked=True)
    return [i for i in (await db.exec(stmt)).all() if i is not None]


async def claim_due(
    db: AsyncSession, *, now: datetime, limit: int, worker: str
) -> list[OutboxMessage]:
    """Atomically move up to `limit` due pending rows to claimed by `worker`; commit.

    PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` (urgent rows, then the rest)
    and one ``UPDATE … RETURNING`` in the same transaction, so concurrent workers
    (other processes, other hosts) each get disjoint rows without waiting on each
    other. SQLite has a single
    writer: one ``UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING`` statement
    takes the write lock before it reads, so two claimers can never pick the same
    row. Returns detached copies (the session is not needed to read them).
    """
    if limit <= 0:
        return []
    values: dict[str, Any] = {
        "state": OutboxState.CLAIMED,
        "claimed_at": now,
        "claimed_by": worker,
    }
    if db.get_bind().dialect.name == "postgresql":
        ids = await _lock_due(db, now, limit, urgent=True)
        if len(ids) < limit:
            ids += await _lock_due(db, now, limit - len(ids), urgent=False)
        if not ids:
            await db.commit()
            return []
        where: ColumnElement[bool] = _id.in_(ids)
    else:
        where = _id.in_(due_ids(now, limit).scalar_subquery())
    stmt = (
        update(OutboxMessage)
        .where(where)
        .values(**values)
        .returning(OutboxMessage)
        .execution_options(synchronize_session=False)
    )
    rows = list((await db.exec(stmt)).scalars().all())
    await db.commit()
    for row in rows:
        db.expunge(row)
    return _sort(rows)


async def release_stale_claims(db: AsyncSession, *, now: datetime, older_than: timedelta) -> int:
    """Put rows claimed before ``now - older_than`` back to pending; commit.

    Those are a crashed worker's rows: it may or may not have sent them, and
    sending again is the lesser harm than never sending (at-least-once, bounded
    by what was in flight at the crash). Live workers keep their claims fresh
    with :func:`refresh_claims`, so they are not released under their feet.
    """
    stmt = (
        update(OutboxMessage)
        .where(_state == OutboxState.CLAIMED, _claimed_at < now - older_than)
        .values(state=OutboxState.PENDING, claimed_at=None, claimed_by=None)
        .execution_options(synchronize_session=False)
    )
    result = await db.exec(stmt)
    await db.commit()
    return int(result.rowcount)


async def release_claims(db: AsyncSession, worker: str, *, keep: Collection[int] = ()) -> int:
    """Give back every row `worker` holds (except `keep`, still in flight); commit.

    Used on graceful shutdown, and at the start of each pass for rows whose
    outcome could not be written (the database went away mid-pass).
    """
    cond = and_(_state == OutboxState.CLAIMED, _claimed_by == worker)
    if keep:
        cond = and_(cond, _id.not_in(list(keep)))
    stmt = (
        update(OutboxMessage)
        .where(cond)
        .values(state=OutboxState.PENDING, claimed_at=None, claimed_by=None)
        .execution_options(synchronize_session=False)
    )
    result = await db.exec(stmt)
    await db.commit()
    return int(result.rowcount)


async def refresh_claims(
    db: AsyncSession, ids: Collection[int], *, worker: str, now: datetime
) -> int:
    """Renew the lease on rows still in flight (a long wait for a busy chat); commit."""
    if not ids:
        return 0
    stmt = (
        update(OutboxMessage)
        .where(_id.in_(list(ids)), _state == OutboxState.CLAIMED, _claimed_by == worker)
        .values(claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    result = await db.exec(stmt)
    await db.commit()
    return int(result.rowcount)


def _claimed(row_id: int, worker: str | None) -> ColumnElement[bool]:
    cond = and_(_id == row_id, _state == OutboxState.CLAIMED)
    return and_(cond, _claimed_by == worker) if worker is not None else cond


async def mark_sent(
    db: AsyncSession,
    row_id: int,
    *,
    now: datetime,
    message_id: int | None,
    worker: str | None = None,
) -> bool:
    """Record a delivered row (caller commits). False if it was settled meanwhile.

    Without `worker`, a row handed back to pending meanwhile is marked too: its claim was
    taken for a crashed worker's (a loop stalled past ``stale_after``), but Telegram has the
    message, and recording that spares a second send. A row cancelled, expired or failed
    meanwhile is left as it is.
    """
    unsettled = and_(_id == row_id, _state.in_([OutboxState.PENDING, OutboxState.CLAIMED]))
    stmt = (
        update(OutboxMessage)
        .where(_claimed(row_id, worker) if worker is not None else unsettled)
        .values(state=OutboxState.SENT, sent_at=now, message_id=message_id, last_error=None)
        .execution_options(synchronize_session=False)
    )
    return bool((await db.exec(stmt)).rowcount)


async def reschedule(
    db: AsyncSession,
    row_id: int,
    *,
    due_at: datetime,
    attempts: int | None = None,
    error: str | None = None,
    worker: str | None = None,
) -> bool:
    """Back to pending, due again at `due_at` (caller commits). False if not claimed.

    `attempts` is only written when given, so a 429 or a deferral does not use
    up the retry budget of a row.
    """
    values: dict[str, Any] = {
        "state": OutboxState.PENDING,
        "due_at": due_at,
        "claimed_at": None,
        "claimed_by": None,
    }
    if attempts is not None:
        values["attempts"] = attempts
    if error is not None:
        values["last_error"] = clip_error(error)
    stmt = (
        update(OutboxMessage)
        .where(_claimed(row_id, worker))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool((await db.exec(stmt)).rowcount)


async def settle(
    db: AsyncSession,
    row_ids: Collection[int],
    *,
    state: OutboxState,
    error: str,
    attempts: int | None = None,
    worker: str | None = None,
) -> int:
    """End claimed rows as failed / expired / cancelled with a reason (caller commits)."""
    if not row_ids:
        return 0
    cond = and_(_id.in_(list(row_ids)), _state == OutboxState.CLAIMED)
    if worker is not None:
        cond = and_(cond, _claimed_by == worker)
    values: dict[str, Any] = {"state": state, "last_error": clip_error(error)}
    if attempts is not None:
        values["attempts"] = attempts
    stmt = update(OutboxMessage).where(cond).values(**values)
    result = await db.exec(stmt.execution_options(synchronize_session=False))
    return int(result.rowcount)


async def cancel_queued(
    db: AsyncSession, *where: ColumnElement[bool], reason: str, claimed_too: bool = True
) -> int:
    """Cancel the rows matching `where` that are still to be sent (caller commits).

    `claimed_too` (the default) cancels rows in flight as well: their late outcome then
    finds them no longer claimed and leaves them cancelled (see the guards above). Without
    it only pending rows go — for a caller that lets what is already on its way arrive.
    """
    states = [OutboxState.PENDING, OutboxState.CLAIMED] if claimed_too else [OutboxState.PENDING]
    stmt = (
        update(OutboxMessage)
        .where(_state.in_(states), *where)
        .values(state=OutboxState.CANCELLED, last_error=clip_error(reason))
    )  # rows this session holds are brought up to date (care/ reads them afterwards)
    return int((await db.exec(stmt)).rowcount or 0)


async def cancel_for_chat(db: AsyncSession, chat_id: int, *, reason: str) -> int:
    """Cancel every pending or claimed row addressed to `chat_id` (caller commits)."""
    return await cancel_queued(db, col(OutboxMessage.chat_id) == chat_id, reason=reason)


async def bring_forward(db: AsyncSession, *where: ColumnElement[bool], now: datetime) -> int:
    """Pending rows matching `where` that are due later than `now` fall due now (caller
    commits): what was waiting for something that has just happened goes out at once."""
    stmt = (
        update(OutboxMessage)
        .where(_state == OutboxState.PENDING, _due_at > now, *where)
        .values(due_at=now)
    )
    return int((await db.exec(stmt)).rowcount or 0)


# ---------------------------------------------------------------- outcomes, each committed


async def record_sent(
    db: AsyncSession, row_id: int, *, now: datetime, message_id: int | None
) -> bool:
    """:func:`mark_sent` as its own unit of work; commit. False if it was settled meanwhile.

    Its own transaction on purpose: a row is recorded as sent the moment Telegram has
    answered for it, before anything else is asked of Telegram, so a kill doubles only the
    messages in flight at that instant (invariant 2).
    """
    marked = await mark_sent(db, row_id, now=now, message_id=message_id)
    await db.commit()
    return marked


async def cancel_row(db: AsyncSession, row_id: int, *, reason: str) -> bool:
    """End one claimed row as cancelled — what it was about is gone; commit.

    False if it was no longer claimed (settled by someone else meanwhile)."""
    settled = await settle(db, [row_id], state=OutboxState.CANCELLED, error=reason)
    await db.commit()
    return bool(settled)


async def fail_row(
    db: AsyncSession,
    row_id: int,
    *,
    error: str,
    attempts: int | None = None,
    worker: str | None = None,
) -> bool:
    """End one claimed row as failed — retrying cannot change its outcome; commit.

    False if it was no longer claimed (by `worker`, when given)."""
    settled = await settle(
        db, [row_id], state=OutboxState.FAILED, error=error, attempts=attempts, worker=worker
    )
    await db.commit()
    return bool(settled)


async def retry_at(
    db: AsyncSession,
    row_id: int,
    *,
    due_at: datetime,
    attempts: int | None = None,
    error: str | None = None,
    worker: str | None = None,
) -> bool:
    """:func:`reschedule` as its own unit of work (a deferral, a 429, a transient error);
    commit. False if the row was no longer claimed."""
    moved = await reschedule(
        db, row_id, due_at=due_at, attempts=attempts, error=error, worker=worker
    )
    await db.commit()
    return moved


async def expire_or_defer(
    db: AsyncSession,
    *,
    expired: Collection[int],
    deferred: Mapping[int, datetime],
    error: str,
    worker: str,
) -> None:
    """What a claim pass does not hand to delivery: rows past their ``expires_at`` end
    expired with `error`, rows their chat cannot take soon go back to pending, due again at
    the time given (`deferred`: row id → due_at); commit.

    One transaction for both, right after :func:`claim_due` committed the claim: until it
    commits, the rows stay claimed by `worker`, so a crash in between leaves them to
    :func:`release_stale_claims` and nothing is lost.
    """
    await settle(db, expired, state=OutboxState.EXPIRED, error=error, worker=worker)
    for row_id, due_at in deferred.items():
        await reschedule(db, row_id, due_at=due_at, worker=worker)
    await db.commit()
