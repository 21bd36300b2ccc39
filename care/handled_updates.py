"""Webhook updates already handled, so a redelivered or replayed one is skipped.

Telegram delivers an update again when it did not see a 2xx (the instance died, the
database was down and we answered 5xx), and anyone holding the secret can replay one.
The `update_id` is recorded after the update was handled; a copy arriving later finds
it and changes nothing. Records older than a day are pruned: Telegram keeps an update
at most 24 hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from store.models import ProcessedUpdate

KEEP = timedelta(days=1)
PRUNE_EVERY = 200
"""Prune on one update in this many (by id): no job of its own, no table that grows."""


async def already_handled(db: AsyncSession, update_id: int) -> bool:
    return await db.get(ProcessedUpdate, update_id) is not None


async def mark_handled(db: AsyncSession, update_id: int, *, now: datetime) -> None:
    """Record the update as handled (a concurrent copy recording it too is fine)."""
    db.add(ProcessedUpdate(update_id=update_id, handled_at=now))
    if update_id % PRUNE_EVERY == 0:
        await db.exec(delete(ProcessedUpdate).where(col(ProcessedUpdate.handled_at) < now - KEEP))
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
