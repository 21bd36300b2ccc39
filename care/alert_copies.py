"""The copies of an alert card shown in chats: recorded when one is sent, brought up to date
when the alert changed while it was on its way.

Every change of an alert's state edits each shown copy (``care.alerts.queue_copy_edits``),
so a copy must be on record before anyone can miss it. Sending one is therefore two units
of work, in this order: :func:`record_alert_sent` commits the copy with the row's sent mark,
then :func:`bring_copy_up_to_date` looks at the alert again. A change committed after the
first commit sees the copy and queues its own edit; a change committed before it is caught
by the second look. One transaction for both would leave a window in which neither sees
the other.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from care import audit
from care.alerts import queue_copy_edit
from store import outbox
from store.models import Alert, AlertCopy, OutboxKind, OutboxMessage

log = logging.getLogger(__name__)

AlertVersion = tuple[object, ...]


def alert_version(alert: Alert) -> AlertVersion:
    """What a card shows that can change after it was rendered."""
    return (alert.state, alert.tier, len(alert.reasons), alert.occurrences, alert.called_back_at)


async def record_alert_sent(
    db: AsyncSession, row: OutboxMessage, *, message_id: int, now: datetime
) -> AlertCopy | None:
    """Record the card `row` put in its chat as `message_id`: the copy (one per shown
    message, even if the row is delivered again), the audit line, the row's sent mark;
    commit once. Returns the copy when this call recorded it, None if it was on record.

    Its own unit of work, committed the moment Telegram has answered (invariant 2) and
    before :func:`bring_copy_up_to_date` reads the alert again (see the module's note)."""
    assert row.id is not None and row.alert_id is not None
    copy = (
        await db.exec(
            select(AlertCopy).where(
                AlertCopy.alert_id == row.alert_id,
                AlertCopy.chat_id == row.chat_id,
                AlertCopy.message_id == message_id,
            )
        )
    ).first()
    fresh = copy is None
    if copy is None:
        copy = AlertCopy(alert_id=row.alert_id, chat_id=row.chat_id, message_id=message_id)
        db.add(copy)
    audit.record(
        db,
        now=now,
        action="alert_sent",
        actor_kind="system",
        subject_kind="alert",
        subject_id=row.alert_id,
        chat_id=row.chat_id,
        level=int(row.payload.get("level", 0)),
    )
    if not await outbox.mark_sent(db, row.id, now=now, message_id=message_id):
        log.info("outbox %d %s: settled while on its way, left so", row.id, row.kind)
    await db.commit()
    return copy if fresh else None


async def bring_copy_up_to_date(
    db: AsyncSession, copy: AlertCopy, *, shown: AlertVersion, now: datetime
) -> bool:
    """Queue an edit of `copy` if its alert changed since the card showed `shown`, unless
    the change already queued one (it saw the copy :func:`record_alert_sent` committed);
    commit once. True if it queued the edit."""
    current = await db.get(Alert, copy.alert_id)
    if current is None:
        return False
    await db.refresh(current)
    if alert_version(current) == shown or await _edit_queued(db, copy):
        return False
    queue_copy_edit(db, current, copy, now)
    await db.commit()
    return True


async def _edit_queued(db: AsyncSession, copy: AlertCopy) -> bool:
    edits = await db.exec(
        select(OutboxMessage).where(
            OutboxMessage.kind == OutboxKind.ALERT_EDIT,
            OutboxMessage.alert_id == copy.alert_id,
            OutboxMessage.chat_id == copy.chat_id,
        )
    )
    return any(e.payload.get("copy_id") == copy.id for e in edits.all())
