"""Reporting a new symptom: the red-flag questions, opened by the patient at any time.

A warning sign must never wait for the next planned check-in (invariant 8). The
protocol's on-demand check-in (`schedule = "on_demand"`, /symptom) is created here as an
ordinary Checkin row bound to the latest session, opened at once and sent as the reply;
its taps go through record_answer and triage like any check-in. It opens while another
check-in is open and while the patient is paused.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from care.checkins import Ready
from care.context import latest_session, load_context, patient_tz
from flows.engine import checkin_applies, next_question
from flows.planner import expires_at
from flows.protocol import CheckinDef, Protocol
from store.models import Checkin, CheckinState, Patient, PatientStatus

#: Who may open it: patients in follow-up, paused ones included.
REPORTING_STATUSES = (PatientStatus.ACTIVE, PatientStatus.PAUSED)


async def open_symptom_report(
    db: AsyncSession,
    protocol: Protocol,
    *,
    patient: Patient,
    default_tz: ZoneInfo,
    now: datetime,
) -> Ready | None:
    """Open the on-demand check-in and return its first question (committed), or None when
    the protocol has none or none of its questions applies (nothing is stored then).
    One unit of work: the check-in is committed OPEN before its question is sent."""
    definition = protocol.on_demand_checkin()
    if definition is None or patient.id is None:
        return None
    ready = await _open_report(db, protocol, definition, patient, default_tz=default_tz, now=now)
    await db.commit()  # also ends the reads of a report that opened nothing
    return ready


async def _open_report(
    db: AsyncSession,
    protocol: Protocol,
    definition: CheckinDef,
    patient: Patient,
    *,
    default_tz: ZoneInfo,
    now: datetime,
) -> Ready | None:
    assert patient.id is not None
    session = await latest_session(db, patient.id)
    ctx = await load_context(db, protocol, patient, session.id if session else None, recent_at=now)
    ref = next_question(definition, ctx, {}) if checkin_applies(definition, ctx) else None
    if ref is None:
        return None
    checkin = Checkin(
        patient_id=patient.id,
        session_id=session.id if session else None,
        key=definition.key,
        state=CheckinState.OPEN,
        due_at=now,
        expires_at=expires_at(definition, due_at=now, tz=patient_tz(patient, default_tz)),
        opened_at=now,
    )
    db.add(checkin)
    return Ready(patient=patient, checkin=checkin, definition=definition, ref=ref, context=ctx)


async def mark_symptom_sent(db: AsyncSession, *, checkin_id: int, message_id: int) -> None:
    """The questions are in the chat: remember the message that carries the buttons."""
    checkin = await db.get(Checkin, checkin_id)
    if checkin is not None and checkin.chat_message_id is None:
        checkin.chat_message_id = message_id
        await db.commit()
