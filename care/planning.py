"""Writing a patient's plan (check-ins, reminders) to the outbox."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from store.models import Patient


async def plan_after_consent(db: AsyncSession, *, patient: Patient, now: datetime) -> None:
    """Plan the aftercare of the patient's sessions in the caller's transaction."""
    return None
