"""How an alert reads in a therapist's chat, and its buttons."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiogram import html
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from babel.numbers import format_percent
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import AlertAction, AlertCb
from bot.desk.menu import open_desk_button
from bot.desk_view import screening_summary
from bot.formatting import Style, plural
from bot.texts import Raw, t
from care.alerts import waiting
from care.digest import DigestItem
from care.patient_view import recent_ratings
from flows.triage import Tier
from store.models import Alert, AlertState, Patient, StaffMember


async def _first_alert(db: AsyncSession, alert: Alert) -> bool:
    """Whether `alert` is the first one raised for its patient."""
    first = (
        await db.exec(
            select(Alert.id).where(Alert.patient_id == alert.patient_id).order_by(col(Alert.id))
        )
    ).first()
    return first == alert.id


CARD_MAX = 3400  # Telegram's limit is 4096 UTF-16 units; room for the header and the state


def tier_label(tier: Tier | str, lang: str) -> str:
    """ "🔴 URGENT", "🟡 PRONTO — revisar hoy" …"""
    return t(f"tier_{Tier(tier).value}", lang)


def question_name(key: str, lang: str) -> str:
    """ "soreness" (Q1), "dolor habitual" (Q2); another question by its key."""
    return t(f"question_{key}", lang) if key in ("Q1", "Q2") else key


def _header(payload: dict[str, object], alert: Alert, style: Style) -> str | None:
    """Why this copy was sent again, if it was."""
    lang = style.lang
    level = int(str(payload.get("level", 0) or 0))
    if level:
        return t("card_escalation", lang, level=level)
    if payload.get("callback_overdue"):
        return t("card_callback_overdue", lang)
    if payload.get("resent"):
        return t("card_resent", lang, when=style.when(alert.created_at))
    if payload.get("rerouted"):
        return t("card_rerouted", lang)
    return None


def _after(fact: dict[str, Any], style: Style, key: str = "hours") -> str:
    """ "2 days after session 1", "3 horas después de la sesión 2"."""
    return t(
        "after_session",
        style.lang,
        span=style.span(timedelta(hours=float(fact[key]))),
        session=fact["session"],
    )


def _score(fact: dict[str, Any], style: Style) -> str:
    """A 0-10 rating: soreness as it is, usual pain against the patient's usual."""
    lang, value = style.lang, fact["value"]
    if fact.get("question") != "Q2":
        return t("reason_pain_Q1", lang, value=value, after=Raw(_after(fact, style)))
    diff = int(value) - int(fact["baseline"])
    if diff <= 0:
        return t(
            "reason_pain_Q2_not_above",
            lang,
            value=value,
            after=Raw(_after(fact, style)),
            baseline=fact["baseline"],
        )
    return t(
        "reason_pain_Q2",
        lang,
        value=value,
        after=Raw(_after(fact, style)),
        diff=diff,
        baseline=fact["baseline"],
    )


def _sentence(fact: dict[str, Any], style: Style) -> str:
    """One finding as a therapist would write it (HTML), in the reader's language."""
    lang, reason = style.lang, fact["reason"]
    if reason in ("pain_9_10", "q2_above_baseline", "q1_high_24h", "q1_high_72h"):
        return _score(fact, style)
    if reason in ("q1_not_falling_48h", "q1_high_48h"):
        after, value, before = Raw(_after(fact, style)), fact["value"], fact.get("before")
        if reason == "q1_not_falling_48h":
            return t("reason_q1_not_falling", lang, value=value, after=after, before=before)
        if before is None:
            return t("reason_q1_no_24", lang, value=value, after=after)
        return t("reason_q1_after_24", lang, value=value, after=after, before=before)
    if reason == "q5_chest_trunk":
        since = style.span(timedelta(hours=float(fact["since"])))
        after = Raw(_after(fact, style))
        return t("reason_q5_chest_trunk", lang, after=after, trunk=fact["trunk"], since=since)
    if reason == "q5_chest":
        window = style.span(timedelta(hours=float(fact["window"])))
        return t("reason_q5_chest", lang, after=Raw(_after(fact, style)), window=window)
    if reason in ("fever_spreading_redness", "fever_site_swelling"):
        site_after = Raw(_after(fact, style, "site_hours"))
        return t(f"reason_{reason}", lang, after=Raw(_after(fact, style)), site_after=site_after)
    if reason == "site_infection_signs":
        key = (
            "reason_site_swelling"
            if fact.get("site") == "swelling_or_pus"
            else "reason_site_redness"
        )
        return t(key, lang, after=Raw(_after(fact, style)))
    if reason == "numbness_24h":
        if fact.get("first_hours") is not None:
            first = Raw(_after(fact, style, "first_hours"))
            return t("reason_numbness_twice", lang, first=first, after=Raw(_after(fact, style)))
        return t("reason_numbness", lang, after=Raw(_after(fact, style)))
    if reason in ("q6_cauda_equina", "leg_weakness", "fainted", "bleeding", "fever", "felt_faint"):
        return t(f"reason_{reason}", lang, after=Raw(_after(fact, style)))
    if reason == "missed_checkins":
        return plural("reason_missed", lang, int(fact["count"]))
    if reason == "patient_message":
        return t("reason_patient_message", lang)
    if reason == "low_adherence":
        planned = fact["planned"]
        detail = "; ".join(
            t(
                "reason_week",
                lang,
                day=style.day(date.fromisoformat(day)),
                done=done,
                planned=planned,
            )
            for day, done in fact["weeks"]
        )
        return t(
            "reason_low_adherence",
            lang,
            percent=format_percent(float(fact["percent"]), locale=style.locale),
            planned=planned,
            weeks=len(fact["weeks"]),
            detail=Raw(detail),
        )
    if reason in ("reevaluate", "stall", "recovered"):
        sessions = plural("n_sessions", lang, int(fact["sessions"]))
        last = "–" if fact.get("last") is None else fact["last"]
        return t(
            f"reason_{reason}",
            lang,
            last=last,
            baseline=fact["baseline"],
            sessions_n=Raw(sessions),
        )
    if reason == "plateau":
        return t("reason_plateau", lang, values=", ".join(f"{v}/10" for v in fact["values"]))
    if reason == "no_progress_reading":
        return t("reason_no_progress_reading", lang, sessions=fact["sessions"])
    if reason == "adherence_not_reported":
        return t("reason_adherence_not_reported", lang, weeks=fact["weeks"])
    if reason == "exercise_painful":
        told = "; ".join(_painful_days(one, style) for one in fact["exercises"])
        return t("reason_exercise_painful", lang, exercises=told)
    if reason == "exercise_painful_repeated":
        return plural(
            "reason_exercise_painful_repeated",
            lang,
            len(fact["days"]),
            exercise=_painful_days(fact, style),
            window=fact["window"],
        )
    raise KeyError(reason)


def _painful_days(told: dict[str, Any], style: Style) -> str:
    """ "Glute bridge (23 Nov, 24 Nov)": an exercise, in the reader's language, and the days
    it was too painful."""
    names = told["name"]
    name = names.get(style.lang) or next(iter(names.values()))
    days = ", ".join(style.day(date.fromisoformat(day)) for day in told["days"])
    return f"{name} ({days})"


def reason_sentence(fact: dict[str, Any], style: Style) -> str | None:
    """The sentence of one finding's facts (HTML), with what happened around it (the
    patient's own words, a late tap); None for facts this version cannot write."""
    try:
        line = _sentence(fact, style)
    except (KeyError, TypeError, ValueError):
        return None
    if fact.get("words"):
        line = t("reason_words", style.lang, reason=Raw(line), words=fact["words"])
    if fact.get("late"):
        line = t("reason_late", style.lang, reason=Raw(line))
    if fact.get("changed"):
        line = t("reason_changed", style.lang, reason=Raw(line))
    return line


def reasons_html(
    alert: Alert, style: Style, *, first_fact: int = 0, first_line: int = 0
) -> list[str]:
    """The alert's reasons as sentences (HTML), from its facts; an alert stored before facts
    were kept (or with facts this version cannot write) shows its stored lines."""
    facts = list(alert.facts or [])[first_fact:]
    stored = alert.reasons[first_line:]
    if facts or not stored:  # new lines with no facts (a finding that kept none): the lines
        lines = [reason_sentence(fact, style) for fact in facts]
        if all(line is not None for line in lines):  # a callback and a rise read alike
            return list(dict.fromkeys(line for line in lines if line is not None))
    return [html.quote(reason) for reason in stored]


def _reason_lines(reasons: list[str], lang: str) -> list[str]:
    """Every reason, newest kept when the card would be too long for one message."""
    lines = [f"• {reason}" for reason in reasons]
    shown: list[str] = []
    size = 0
    for line in reversed(lines):
        size += len(line.encode("utf-16-le")) // 2 + 1  # how Telegram counts
        if size > CARD_MAX and shown:
            shown.append(plural("card_earlier", lang, len(lines) - len(shown)))
            break
        shown.append(line)
    return list(reversed(shown))


async def alert_card(
    db: AsyncSession,
    alert: Alert,
    style: Style,
    *,
    level: int = 0,
    payload: dict[str, object] | None = None,
    desk_url: str | None = None,
) -> tuple[str, InlineKeyboardMarkup]:
    """The alert's message: tier, patient (escaped), reasons, last ratings, state — in the
    staff's language, times in the clinic's zone (named when not the reader's); with
    `desk_url` (a private chat of desk staff) an "Open desk" button below."""
    lang = style.lang
    patient = await db.get(Patient, alert.patient_id)
    name = (patient.display_name if patient else None) or "—"
    tier = Tier(alert.tier)
    lines = []
    header = _header({"level": level, **(payload or {})}, alert, style)
    if header:
        lines.append(header)
    lines.append(
        f"<b>{tier_label(tier, lang)}</b> · <b>{html.quote(name)}</b> (#{alert.patient_id})"
    )
    lines += _reason_lines(reasons_html(alert, style), lang)
    if patient is not None and await _first_alert(db, alert):
        # the therapist meets the patient here first: what the desk screened at enrollment
        lines.append(screening_summary(patient, lang))
    ratings = await recent_ratings(db, alert.patient_id, limit=4)
    if ratings:
        shown = ", ".join(
            t(
                "card_rating",
                lang,
                question=question_name(r.question_key, lang),
                value=r.value,
                when=style.when(r.at),
            )
            for r in ratings
        )
        lines.append(t("card_last_ratings", lang, ratings=Raw(shown)))
    raised = t("card_raised", lang, when=style.when(alert.created_at))
    if alert.occurrences > 1:
        raised = t("card_seen", lang, raised=Raw(raised), count=alert.occurrences)
    lines.append(raised)
    aid = alert.id or 0
    history = InlineKeyboardButton(
        text=t("btn_history", lang),
        callback_data=AlertCb(action=AlertAction.history, alert_id=aid).pack(),
    )
    call_back = InlineKeyboardButton(
        text=t("btn_call_back_done", lang),
        callback_data=AlertCb(action=AlertAction.called_back, alert_id=aid).pack(),
    )
    if alert.acknowledged_by is not None and alert.state != AlertState.SUPERSEDED:
        by = await db.get(StaffMember, alert.acknowledged_by)
        when = alert.acknowledged_at or alert.created_at
        lines.append(
            t("card_acknowledged", lang, name=by.name if by else "—", when=style.clock(when))
        )
    if alert.called_back_by is not None:
        by = await db.get(StaffMember, alert.called_back_by)
        when = alert.called_back_at or alert.created_at
        lines.append(
            t("card_called_back", lang, name=by.name if by else "—", when=style.when(when))
        )
    if alert.state == AlertState.SUPERSEDED:
        lines.append(t("card_superseded", lang))
    text = "\n".join(lines)
    if alert.state == AlertState.OPEN:
        row = [
            InlineKeyboardButton(
                text=t("btn_acknowledge", lang),
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


async def alert_notice(
    db: AsyncSession, alert: Alert, style: Style, *, first_line: int, first_fact: int | None
) -> str:
    """The short message that points to an updated card (a reply to it): what is new.

    first_fact: how many facts the card had before (None: a notice queued before facts
    were kept, told from its lines)."""
    lang = style.lang
    patient = await db.get(Patient, alert.patient_id)
    name = (patient.display_name if patient else None) or "—"
    if first_fact is None:
        new = [html.quote(line) for line in alert.reasons[first_line:]]
    else:
        new = reasons_html(alert, style, first_fact=first_fact, first_line=first_line)
    lines = [
        t(
            "notice_new",
            lang,
            name=name,
            patient_id=alert.patient_id,
            tier=Raw(tier_label(alert.tier, lang)),
        )
    ]
    lines += _reason_lines(new or [t("notice_same", lang)], lang)
    lines.append(t("notice_updated", lang))
    return "\n".join(lines)


def digest_header(day: object, style: Style) -> str:
    """ "Daily digest · Wed 2 Dec" (the day the digest is for, in the clinic's calendar)."""
    try:
        shown = style.weekday(date.fromisoformat(str(day)))
    except ValueError:
        shown = str(day or "")
    return t("digest_header", style.lang, date=shown)


def digest_line(item: DigestItem, style: Style) -> str:
    """One line of the digest: the patient, then what waits (in the reader's language)."""
    lang = style.lang
    if item.alert is not None and item.waited is not None:
        what = t(
            "digest_waiting",
            lang,
            tier=t(f"tier_word_{Tier(item.alert.tier).value}", lang),
            age=style.span(item.waited),
            reasons=Raw("; ".join(reasons_html(item.alert, style)[:3])),
        )
    elif item.alert is not None:
        what = "; ".join(reasons_html(item.alert, style))
    else:
        what = plural("digest_missed", lang, item.missed)
    return f"• <b>{html.quote(item.patient_name or '—')}</b> (#{item.patient_id}): {what}"
