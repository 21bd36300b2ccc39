"""The copies of an alert card, on SQLite and PostgreSQL: one copy per shown message, the
row's sent mark in the same commit, and one edit — never two — for a card whose alert
changed while it was on its way (Telegram refuses a second identical edit as "message is
not modified")."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select

from care.alert_copies import alert_version, bring_copy_up_to_date, record_alert_sent
from care.alerts import acknowledge
from store.db import SessionFactory
from store.models import (
    Alert,
    AlertCopy,
    AuditEvent,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    StaffMember,
)
from tests.support.alerts import MONDAY_10, SOON, THEO, clinic, finding, raise_

SENT_AT = MONDAY_10 + timedelta(seconds=5)


async def card_row(sessions: SessionFactory) -> tuple[Alert, OutboxMessage]:
    """A SOON card raised for Theo, and the outbox row that carries it to his chat."""
    await clinic(sessions)
    (alert,) = await raise_(sessions, SOON, now=MONDAY_10)
    async with sessions() as db:
        row = (
            await db.exec(
                select(OutboxMessage).where(
                    OutboxMessage.kind == OutboxKind.ALERT, OutboxMessage.chat_id == THEO
                )
            )
        ).one()
    return alert, row


async def edits_queued(sessions: SessionFactory) -> list[int]:
    async with sessions() as db:
        rows = await db.exec(
            select(OutboxMessage)
            .where(OutboxMessage.kind == OutboxKind.ALERT_EDIT)
            .order_by(col(OutboxMessage.id))
        )
        return [int(r.payload["copy_id"]) for r in rows.all()]


async def send(sessions: SessionFactory, row: OutboxMessage, message_id: int) -> AlertCopy | None:
    async with sessions() as db:
        return await record_alert_sent(db, row, message_id=message_id, now=SENT_AT)


async def test_a_sent_card_is_one_copy_and_its_row_is_sent(sessions: SessionFactory) -> None:
    alert, row = await card_row(sessions)
    copy = await send(sessions, row, 77)
    assert copy is not None and copy.id is not None
    assert await send(sessions, row, 77) is None  # delivered again: still one copy
    async with sessions() as db:
        copies = (await db.exec(select(AlertCopy))).all()
        assert [(c.alert_id, c.chat_id, c.message_id) for c in copies] == [(alert.id, THEO, 77)]
        stored = await db.get(OutboxMessage, row.id)
        assert stored is not None
        assert (stored.state, stored.message_id) == (OutboxState.SENT, 77)
        audit = (await db.exec(select(AuditEvent).where(AuditEvent.action == "alert_sent"))).all()
        assert {e.subject_id for e in audit} == {alert.id}


async def test_a_card_changed_on_its_way_gets_one_edit(sessions: SessionFactory) -> None:
    alert, row = await card_row(sessions)
    shown = alert_version(alert)  # what the card showed when it was rendered
    # a second finding while the card is on its way: no copy on record yet, no edit queued
    await raise_(sessions, finding(SOON.tier, "fever", "Fever"), now=MONDAY_10)
    assert await edits_queued(sessions) == []
    copy = await send(sessions, row, 77)
    assert copy is not None
    async with sessions() as db:
        assert await bring_copy_up_to_date(db, copy, shown=shown, now=SENT_AT)
    async with sessions() as db:  # a second look finds the edit queued: no duplicate
        assert not await bring_copy_up_to_date(db, copy, shown=shown, now=SENT_AT)
    assert await edits_queued(sessions) == [copy.id]


async def test_a_change_after_the_copy_is_on_record_is_not_edited_twice(
    sessions: SessionFactory,
) -> None:
    alert, row = await card_row(sessions)
    shown = alert_version(alert)
    copy = await send(sessions, row, 77)
    assert copy is not None and alert.id is not None
    async with sessions() as db:  # acknowledged once the copy is committed: it queues the edit
        theo = (await db.exec(select(StaffMember).where(StaffMember.tg_user_id == THEO))).one()
        await acknowledge(db, alert_id=alert.id, staff=theo, now=SENT_AT)
    assert await edits_queued(sessions) == [copy.id]
    async with sessions() as db:
        assert not await bring_copy_up_to_date(db, copy, shown=shown, now=SENT_AT)
    assert await edits_queued(sessions) == [copy.id]


async def test_an_unchanged_card_is_left_alone(sessions: SessionFactory) -> None:
    alert, row = await card_row(sessions)
    copy = await send(sessions, row, 77)
    assert copy is not None
    async with sessions() as db:
        assert not await bring_copy_up_to_date(
            db, copy, shown=alert_version(alert), now=datetime.now(SENT_AT.tzinfo)
        )
    assert await edits_queued(sessions) == []
