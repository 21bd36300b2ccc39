"""How an alert reads in a therapist's chat, and its buttons."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram import html
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import AlertAction, AlertCb
from bot.desk.menu import open_desk_button
from bot.desk_view import screening_summary
from care.alerts import waiting
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


async def _first_alert(db: AsyncSession, alert: Alert) -> bool:
    """Whether `alert` is the first one raised for its patient."""
    first = (
        await db.exec(
            select(Alert.id).where(Alert.patient_id == alert.patient_id).order_by(col(Alert.id))
        )
    ).first()
    return first == alert.id


CARD_MAX = 3400  # Telegram's limit is 4096 UTF-16 units; room for the header and the state


def _header(payload: dict[str, object], alert: Alert, tz: ZoneInfo) -> str | None:
    """Why this copy was sent again, if it was."""
    level = int(str(payload.get("level", 0) or 0))
    if level:
        return f"⏫ <b>Escalation {level}</b>: not acknowledged yet"
    if payload.get("callback_overdue"):
        return "⏫ <b>Call back overdue</b>: not marked done in time"
    if payload.get("resent"):
        raised = alert.created_at.astimezone(tz)
        return f"🔁 <b>Re-sent</b>: not acknowledged since {raised:%d/%m %H:%M}"
    if payload.get("rerouted"):
        return "↪️ <b>Sent to you</b>: the treating therapist cannot be reached"
    return None


def _reason_lines(reasons: list[str]) -> list[str]:
    """Every reason, newest kept when the card would be too long for one message."""
    lines = [f"• {html.quote(reason)}" for reason in reasons]
    shown: list[str] = []
    size = 0
    for line in reversed(lines):
        size += len(line.encode("utf-16-le")) // 2 + 1  # how Telegram counts
        if size > CARD_MAX and shown:
            shown.append(f"• … {len(lines) - len(shown)} earlier line(s): see /alerts history")
            break
        shown.append(line)
    return list(reversed(shown))


async def alert_card(
    db: AsyncSession,
    alert: Alert,
    tz: ZoneInfo,
    *,
    level: int = 0,
    payload: dict[str, object] | None = None,
    desk_url: str | None = None,
) -> tuple[str, InlineKeyboardMarkup]:
    """The alert's message: tier, patient (escaped), reasons, last ratings, state; with
    `desk_url` (a private chat of desk staff) an "Open desk" button below."""
    patient = await db.get(Patient, alert.patient_id)
    name = (patient.display_name if patient else None) or "—"
    tier = Tier(alert.tier)
    lines = []
    header = _header({"level": level, **(payload or {})}, alert, tz)
    if header:
        lines.append(header)
    lines.append(f"<b>{TIER_LABELS[tier]}</b> · <b>{html.quote(name)}</b> (#{alert.patient_id})")
    lines += _reason_lines(list(alert.reasons))
    if patient is not None and await _first_alert(db, alert):
        # the therapist meets the patient here first: what the desk screened at enrollment
        lines.append(screening_summary(patient, "en"))
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
    aid = alert.id or 0
    history = InlineKeyboardButton(
        text="History", callback_data=AlertCb(action=AlertAction.history, alert_id=aid).pack()
    )
    call_back = InlineKeyboardButton(
        text="Call back done",
        callback_data=AlertCb(action=AlertAction.called_back, alert_id=aid).pack(),
    )
    if alert.acknowledged_by is not None and alert.state != AlertState.SUPERSEDED:
        by = await db.get(StaffMember, alert.acknowledged_by)
        when = alert.acknowledged_at.astimezone(tz) if alert.acknowledged_at else raised
        lines.append(
            f"✅ <b>Acknowledged by {html.quote(by.name) if by else '—'} at {when:%H:%M}</b>"
        )
    if alert.called_back_by is not None:
        by = await db.get(StaffMember, alert.called_back_by)
        when = alert.called_back_at.astimezone(tz) if alert.called_back_at else raised
        lines.append(
            f"📞 <b>Called back by {html.quote(by.name) if by else '—'} at {when:%d/%m %H:%M}</b>"
        )
    if alert.state == AlertState.SUPERSEDED:
        lines.append("⏭ <b>Superseded</b>: a newer alert for this patient was sent")
    text = "\n".join(lines)
    if alert.state == AlertState.OPEN:
        row = [
            InlineKeyboardButton(
                text="Acknowledge",
                callback_data=AlertCb(action=AlertAction.ack, alert_id=aid).pack(),
            ),
            history,
        ]
        if tier == Tier.URGENT_CALLBACK:
            row.append(call_back)
        return text, _keyboard([row], desk_url)
    if waiting(alert):  # acknowledged, the call back still to be made
        return text, _keyboard([[history, call_back]], desk_url)
    return text, _keyboard([[history]], desk_url)


def _keyboard(rows: list[list[InlineKeyboardButton]], desk_url: str | None) -> InlineKeyboardMarkup:
    if desk_url is not None:
        rows = [*rows, [open_desk_button(desk_url)]]
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def alert_notice(db: AsyncSession, alert: Alert, first: int) -> str:
    """The short message that points to an updated card (a reply to it): what is new."""
    patient = await db.get(Patient, alert.patient_id)
    name = (patient.display_name if patient else None) or "—"
    tier = Tier(alert.tier)
    new = list(alert.reasons[first:]) or ["the same finding again"]
    lines = [f"➕ <b>New for {html.quote(name)}</b> (#{alert.patient_id}) · {TIER_LABELS[tier]}"]
    lines += _reason_lines(new)
    lines.append("The alert above is updated.")
    return "\n".join(lines)
