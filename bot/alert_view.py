"""How an alert reads in a therapist's chat, and its buttons."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram import html
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import AlertCb
from care.patient_view import recent_ratings
from flows.triage import Tier
from store.models import Alert, AlertState, Patient, StaffMember

TIER_LABELS = {
    Tier.URGENT: "🔴 URGENT",
    Tier.URGENT_CALLBACK: "🟠 URGENT — call back",
    Tier.SOON: "🟡 SOON — review today",
    Tier.ROUTINE: "⚪ Routine",
}
QUESTION_NAMES = {"Q1": "soreness", "Q2": "usual pain"}


async def alert_card(
    db: AsyncSession, alert: Alert, tz: ZoneInfo, *, level: int = 0
) -> tuple[str, InlineKeyboardMarkup]:
    """The alert's message: tier, patient (escaped), reasons, last ratings, state."""
    patient = await db.get(Patient, alert.patient_id)
    name = (patient.display_name if patient else None) or "—"
    tier = Tier(alert.tier)
    lines = []
    if level:
        lines.append(f"⏫ <b>Escalation {level}</b>: not acknowledged yet")
    lines.append(f"<b>{TIER_LABELS[tier]}</b> · <b>{html.quote(name)}</b> (#{alert.patient_id})")
    lines += [f"• {html.quote(reason)}" for reason in alert.reasons]
    ratings = await recent_ratings(db, alert.patient_id, limit=4)
    if ratings:
        shown = ", ".join(
            f"{QUESTION_NAMES.get(r.question_key, r.question_key)} {r.value} "
            f"({r.at.astimezone(tz):%d/%m %H:%M})"
            for r in ratings
        )
        lines.append(f"Last ratings: {shown}")
    raised = alert.created_at.astimezone(tz)
    seen = f" · seen ×{alert.occurrences}" if alert.occurrences > 1 else ""
    lines.append(f"Raised {raised:%d/%m %H:%M}{seen}")
    history = InlineKeyboardButton(
        text="History", callback_data=AlertCb(action="hist", alert_id=alert.id or 0).pack()
    )
    if alert.state != AlertState.OPEN:
        by = await db.get(StaffMember, alert.acknowledged_by) if alert.acknowledged_by else None
        when = alert.acknowledged_at.astimezone(tz) if alert.acknowledged_at else raised
        verb = "Called back" if alert.state == AlertState.CLOSED else "Acknowledged"
        who = html.quote(by.name) if by else "—"
        lines.append(f"✅ <b>{verb} by {who} at {when:%H:%M}</b>")
        return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=[[history]])
    row = [
        InlineKeyboardButton(
            text="Acknowledge", callback_data=AlertCb(action="ack", alert_id=alert.id or 0).pack()
        ),
        history,
    ]
    if tier == Tier.URGENT_CALLBACK:
        row.append(
            InlineKeyboardButton(
                text="Call back done",
                callback_data=AlertCb(action="cb", alert_id=alert.id or 0).pack(),
            )
        )
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=[row])
