"""The audit log: actions on ids, never personal data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
