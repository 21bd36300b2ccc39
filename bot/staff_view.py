"""How the admin's staff pages look: invitations, /staff, deactivation, /reassign, /audit.

Buttons carry ids and an action only; who may do what is decided again on every tap
(`care.staff`), so these builders decide nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aiogram import html
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import InviteRoleCb, ReassignAction, ReassignCb, StaffAction, StaffCb
from bot.desk_view import staff_picker
from bot.formatting import Style, plural
from bot.texts import t
from care.staff import Preview
from store.models import AuditEvent, Role, StaffMember


def invite_keyboard(lang: str) -> InlineKeyboardMarkup:
    """The role a new person is invited as (an admin is never invited: ADMIN_IDS)."""
    staff = InviteRoleCb(role=Role.STAFF).pack()
    therapist = InviteRoleCb(role=Role.THERAPIST).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=t("btn_role_staff", lang), callback_data=staff),
                InlineKeyboardButton(text=t("btn_role_therapist", lang), callback_data=therapist),
            ]
        ]
    )


def _when(moment: datetime | None, style: Style) -> str:
    return t("staff_never", style.lang) if moment is None else style.when(moment)


def staff_page(
    people: list[StaffMember],
    *,
    admin: StaffMember,
    admin_ids: frozenset[int],
    style: Style,
) -> tuple[str, InlineKeyboardMarkup]:
    """/staff: everyone with a role and their last activity, and a Deactivate button for
    each active person but the admin reading it and those listed in ADMIN_IDS."""
    lang = style.lang
    lines = [t("staff_header", lang, count=len(people))]
    rows = []
    for person in people:
        assert person.id is not None
        state = (
            t("staff_active", lang)
            if person.active
            else t("staff_inactive", lang, when=_when(person.deactivated_at, style))
        )
        lines.append(
            t(
                "staff_line",
                lang,
                name=person.name,
                id=person.id,
                role=t(f"role_{person.role}", lang),
                state=state,
                seen=_when(person.last_seen_at, style),
            )
        )
        if person.active and person.id != admin.id and person.tg_user_id not in admin_ids:
            data = StaffCb(action=StaffAction.ask, staff_id=person.id).pack()
            label = t("btn_deactivate", lang, name=person.name)[:60]
            rows.append([InlineKeyboardButton(text=label, callback_data=data)])
    return "\n".join(lines)[:4000], InlineKeyboardMarkup(inline_keyboard=rows)


def deactivate_confirmation(
    seen: Preview, staff_id: int, lang: str
) -> tuple[str, InlineKeyboardMarkup]:
    """Who, and what moves (open alerts, patients); Yes, deactivate / No, keep."""
    confirm = StaffCb(action=StaffAction.confirm, staff_id=staff_id).pack()
    keep = StaffCb(action=StaffAction.keep, staff_id=staff_id).pack()
    text = t(
        "staff_confirm",
        lang,
        name=seen.member.name,
        role=t(f"role_{seen.member.role}", lang),
        alerts=plural("n_open_alerts", lang, seen.open_alerts),
        patients=plural("n_patients", lang, seen.patients),
    )
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=t("btn_confirm_deactivate", lang), callback_data=confirm),
                InlineKeyboardButton(text=t("btn_keep", lang), callback_data=keep),
            ]
        ]
    )
    return text, keyboard


def reassign_pick(patient_id: int) -> ReassignCb:
    """A patient picked for /reassign (the patient picker's button)."""
    return ReassignCb(action=ReassignAction.patient, patient_id=patient_id)


def reassign_targets(patient_id: int, targets: list[StaffMember]) -> InlineKeyboardMarkup:
    """The therapists a patient may move to."""
    return staff_picker(
        targets,
        lambda staff_id: ReassignCb(
            action=ReassignAction.to, patient_id=patient_id, staff_id=staff_id
        ),
    )


def audit_text(events: Sequence[AuditEvent], style: Style) -> str:
    """/audit: who did what to what, when — ids only, newest first."""
    lines = [t("audit_header", style.lang)]
    for event in events:
        subject = f" {event.subject_kind} #{event.subject_id}" if event.subject_kind else ""
        actor = f"{event.actor_kind} #{event.actor_id}" if event.actor_id else event.actor_kind
        lines.append(
            f"{style.when(event.at)} · {html.quote(event.action)} · "
            f"{html.quote(actor)}{html.quote(subject)}"
        )
    if not events:
        lines.append(t("audit_none", style.lang))
    return "\n".join(lines)
