"""The audit log: actions on ids, never personal data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.models import AuditEvent


def record(
    db: AsyncSession,
    *,
    now: datetime,
    action: str,
    actor_kind: str,
    actor_id: int | None = None,
    subject_kind: str | None = None,
    subject_id: int | None = None,
    **detail: Any,
) -> AuditEvent:
    """Add an audit event to the caller's transaction (committed with the action)."""
    event = AuditEvent(
        at=now,
        actor_kind=actor_kind,
        actor_id=actor_id,
        action=action,
        subject_kind=subject_kind,
        subject_id=subject_id,
        detail=detail,
    )
    db.add(event)
    return event


async def record_access(
    db: AsyncSession,
    *,
    now: datetime,
    action: str,
    staff_id: int | None,
    subject_kind: str | None = None,
    subject_id: int | None = None,
    **detail: Any,
) -> None:
    """A staff member read patients' data (a patient card, an export). The read writes
    nothing else, so its audit event is the whole unit of work: recorded and committed."""
    record(
        db,
        now=now,
        action=action,
        actor_kind="staff",
        actor_id=staff_id,
        subject_kind=subject_kind,
        subject_id=subject_id,
        **detail,
    )
    await db.commit()


@dataclass(frozen=True)
class AuditFilter:
    """What the log is narrowed to (every field optional); `since`/`until` are instants,
    `until` exclusive."""

    action: str | None = None
    actor_kind: str | None = None
    actor_id: int | None = None
    subject_kind: str | None = None
    subject_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


async def events(
    db: AsyncSession,
    where: AuditFilter = AuditFilter(),
    *,
    before_id: int | None = None,
    limit: int = 30,
) -> list[AuditEvent]:
    """The newest events first (the chat's /audit with no filter, the desk's log with
    one); `before_id` pages on (stable while new events are written)."""
    query = select(AuditEvent)
    conditions = [
        (where.action, AuditEvent.action),
        (where.actor_kind, AuditEvent.actor_kind),
        (where.actor_id, AuditEvent.actor_id),
        (where.subject_kind, AuditEvent.subject_kind),
        (where.subject_id, AuditEvent.subject_id),
    ]
    for value, column in conditions:
        if value is not None:
            query = query.where(col(column) == value)
    if where.since is not None:
        query = query.where(col(AuditEvent.at) >= where.since)
    if where.until is not None:
        query = query.where(col(AuditEvent.at) < where.until)
    if before_id is not None:
        query = query.where(col(AuditEvent.id) < before_id)
    return list((await db.exec(query.order_by(col(AuditEvent.id).desc()).limit(limit))).all())


async def actions(db: AsyncSession) -> list[str]:
    """Every action the log holds, for a filter's choices."""
    found = await db.exec(select(AuditEvent.action).distinct().order_by(col(AuditEvent.action)))
    return list(found.all())
