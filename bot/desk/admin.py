"""The admin's desk screens (under /desk/api/admin/): staff, invitations, deactivation,
reassignment and the audit log.

Only an active admin still listed in ADMIN_IDS gets here (auth.py, as the chat's
HasRole(ADMIN)). Every change is the care/ operation the chat's admin commands call —
`care.people.create_invite` (/invite), `care.staff.preview`/`deactivate` (/staff),
`care.staff.checked_patient`/`targets_for`/`reassign` (/reassign), `care.audit.events`
(/audit) — so a refusal is the chat's sentence, a deactivation moves the open alerts as
the chat's does, and a second copy of the same tap changes nothing. The staff list and
the audit log are not audited, as /staff and /audit are not: they show no patient data.
"""

from __future__ import annotations

import html
import logging
import re
from datetime import date, datetime, time, timedelta

from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiohttp import web
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import alert_policy
from bot.commands import set_commands_for
from bot.desk.api import (
    NO_PRIVATE_CHAT,
    NOT_AVAILABLE,
    DeskContext,
    aware,
    desk_caller_of,
    desk_context,
    json_answer,
    problem,
)
from bot.desk.models import (
    AuditPage,
    AuditRow,
    Choice,
    DeactivatePreview,
    Invited,
    InviteRequest,
    LinkSent,
    Reassigned,
    ReassignList,
    ReassignPatient,
    ReassignRequest,
    Region,
    SendLink,
    StaffDeactivated,
    StaffList,
    StaffRow,
)
from bot.formatting import plural
from bot.links import deep_link
from bot.texts import t
from care import audit
from care import staff as care_staff
from care.people import INVITABLE_ROLES, create_invite, find_link
from store.models import Patient, Role, StaffMember

log = logging.getLogger(__name__)

ADMIN_ROLES = (Role.ADMIN,)
UNREADABLE = "The form could not be read: reload the desk and try again."
INVITE_SENT = "The invitation link is in your chat with the bot."
AUDIT_PAGE = 30  # as /audit
#: care.staff's refusals the desk answers with another status than 409
STATUS = {"not_allowed": 403, "button_expired": 404}
#: the chat's sentence, except where it speaks of a button the desk does not have
DESK_WORDS = {"button_expired": "Not found any more: reload the desk."}


def plain(text: str) -> str:
    """A chat text (Telegram HTML from `t`) as the plain words the page shows."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _refusal(exc: care_staff.StaffError, lang: str) -> web.Response:
    key = str(exc)
    return problem(STATUS.get(key, 409), DESK_WORDS.get(key) or plain(t(key, lang)))


def _number(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def _hours(ctx: DeskContext) -> int:
    return round(ctx.settings.invite_ttl.total_seconds() / 3600)


async def _admin(request: web.Request, db: AsyncSession, ctx: DeskContext) -> StaffMember:
    return (await desk_caller_of(request, db, ctx, ADMIN_ROLES)).staff


# -------------------------------------------------------------------- staff


async def staff_list(request: web.Request) -> web.StreamResponse:
    """/staff as data: role, active or since when not, last activity."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        admin = await _admin(request, db, ctx)
        people = await care_staff.staff_list(db)
        lang = admin.language
        rows = [
            StaffRow(
                id=p.id or 0,
                name=p.name,
                role=p.role,
                role_label=t(f"role_{p.role}", lang),
                active=p.active,
                deactivated_at=aware(p.deactivated_at) if p.deactivated_at else None,
                last_seen_at=aware(p.last_seen_at) if p.last_seen_at else None,
                # the button /staff shows; care.staff decides again on the tap
                can_deactivate=p.active
                and p.id != admin.id
                and p.tg_user_id not in ctx.settings.admin_ids,
            )
            for p in people
        ]
        roles = [Region(key=str(r), label=t(f"btn_role_{r}", lang)) for r in INVITABLE_ROLES]
        return json_answer(StaffList(staff=rows, invite_roles=roles, link_hours=_hours(ctx)))


def _staff_id(request: web.Request) -> int | None:
    return _number(request.match_info["staff_id"])


async def deactivate_preview(request: web.Request) -> web.StreamResponse:
    """The chat's confirmation: who, their open alerts and patients (care.staff.preview)."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        admin = await _admin(request, db, ctx)
        staff_id = _staff_id(request)
        if staff_id is None:
            return problem(404, DESK_WORDS["button_expired"])
        try:
            seen = await care_staff.preview(
                db, admin=admin, staff_id=staff_id, admin_ids=ctx.settings.admin_ids
            )
        except care_staff.StaffError as exc:
            return _refusal(exc, admin.language)
        return json_answer(
            DeactivatePreview(
                staff_id=staff_id,
                name=seen.member.name,
                role_label=t(f"role_{seen.member.role}", admin.language),
                open_alerts=seen.open_alerts,
                patients=seen.patients,
            )
        )


async def deactivate(request: web.Request) -> web.StreamResponse:
    """Yes, deactivate: `care.staff.deactivate`, once (a second copy is refused by its
    conditional write); their menu goes back to a stranger's, as in the chat."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        admin = await _admin(request, db, ctx)
        staff_id = _staff_id(request)
        if staff_id is None:
            return problem(404, DESK_WORDS["button_expired"])
        try:
            done = await care_staff.deactivate(
                db,
                alert_policy(ctx.settings, ctx.protocol),
                admin=admin,
                staff_id=staff_id,
                admin_ids=ctx.settings.admin_ids,
                now=ctx.clock.now(),
            )
        except care_staff.StaffError as exc:
            return _refusal(exc, admin.language)
        log.info("desk: staff_id=%s deactivated by staff_id=%s", done.member.id, admin.id)
        member = done.member
        await set_commands_for(
            ctx.bot, member.tg_user_id, None, member.language, desk_url=ctx.settings.desk_url
        )
        message = plain(
            t(
                "staff_deactivated",
                admin.language,
                name=member.name,
                alerts=plural("n_open_alerts", admin.language, done.moved_alerts),
            )
        )
        return json_answer(
            StaffDeactivated(
                staff_id=staff_id,
                name=member.name,
                moved_alerts=done.moved_alerts,
                message=message,
                patients=[await _reassign_row(db, p) for p in done.patients[:50]],
            )
        )


# ----------------------------------------------------------------- invitations


async def invite(request: web.Request) -> web.StreamResponse:
    """A one-time invitation (care.people.create_invite, as /invite): the link shown."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        admin = await _admin(request, db, ctx)
        try:
            body = InviteRequest.model_validate(await request.json())
        except (ValueError, ValidationError):
            return problem(400, "Choose whom to invite: a therapist or front-desk staff.")
        role = Role(body.role)
        token = await create_invite(
            db, admin=admin, role=role, now=ctx.clock.now(), ttl=ctx.settings.invite_ttl
        )
        log.info("desk: invite created by staff_id=%s role=%s", admin.id, role)
        return json_answer(
            Invited(
                role=body.role,
                role_label=t(f"role_{role}", admin.language),
                link=deep_link(ctx.bot_username, token),
                link_hours=_hours(ctx),
            )
        )


async def send_invite(request: web.Request) -> web.StreamResponse:
    """The invitation (as /invite words it) to the caller's chat: only a link the caller
    made, not yet used or expired."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        admin = await _admin(request, db, ctx)
        try:
            body = SendLink.model_validate(await request.json())
        except (ValueError, ValidationError):
            return problem(400, UNREADABLE)
        token = body.link.rpartition("?start=")[2]
        link = await find_link(db, token) if token else None
        if (
            link is None
            or link.kind != "invite"
            or link.created_by != admin.id
            or link.used_at is not None
            or aware(link.expires_at) <= ctx.clock.now()
        ):
            return problem(403, NOT_AVAILABLE)
        text = t(
            "invite_link",
            admin.language,
            role=t(f"role_{link.role}", admin.language),
            hours=_hours(ctx),
            link=deep_link(ctx.bot_username, token),
        )
        try:
            await ctx.bot.send_message(admin.tg_user_id, text)
        except (TelegramForbiddenError, TelegramBadRequest):
            return problem(409, NO_PRIVATE_CHAT)
        log.info("desk: invite link %s sent to staff %s", link.id, admin.id)
        return json_answer(LinkSent(message=INVITE_SENT))


# -------------------------------------------------------------------- reassign


async def _reassign_row(db: AsyncSession, patient: Patient) -> ReassignPatient:
    assert patient.id is not None
    therapist = await db.get(StaffMember, patient.therapist_id)
    targets = await care_staff.targets_for(db, patient)
    return ReassignPatient(
        id=patient.id,
        name=patient.display_name or "—",
        status=patient.status,
        therapist_id=patient.therapist_id,
        therapist=therapist.name if therapist else "—",
        targets=[Choice(id=s.id or 0, name=s.name) for s in targets],
    )


async def reassign_list(request: web.Request) -> web.StreamResponse:
    """The /reassign picker: the patients the admin may move, with where to."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        admin = await _admin(request, db, ctx)
        found = await care_staff.reassignable(db, admin)
        return json_answer(ReassignList(patients=[await _reassign_row(db, p) for p in found]))


async def reassign(request: web.Request) -> web.StreamResponse:
    """Move a patient to another active therapist (care.staff.reassign, as /reassign)."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        admin = await _admin(request, db, ctx)
        patient_id = _number(request.match_info["patient_id"])
        try:
            body = ReassignRequest.model_validate(await request.json())
        except (ValueError, ValidationError):
            return problem(400, UNREADABLE)
        if patient_id is None:
            return problem(404, DESK_WORDS["button_expired"])
        try:
            patient, therapist = await care_staff.reassign(
                db,
                actor=admin,
                patient_id=patient_id,
                therapist_id=body.therapist_id,
                now=ctx.clock.now(),
            )
        except care_staff.StaffError as exc:
            return _refusal(exc, admin.language)
        assert therapist.id is not None
        log.info(
            "desk: patient %s reassigned to staff_id=%s by staff_id=%s",
            patient_id,
            therapist.id,
            admin.id,
        )
        message = plain(
            t(
                "reassign_done",
                admin.language,
                name=patient.display_name or "—",
                therapist=therapist.name,
            )
        )
        return json_answer(
            Reassigned(patient_id=patient_id, therapist_id=therapist.id, message=message)
        )


# ------------------------------------------------------------------------ audit

KINDS = ("staff", "patient", "system")
SUBJECTS = ("alert", "link", "patient", "staff")
ACTION = re.compile(r"^[a-z_]{1,48}$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FILTERS = {"action", "actor_kind", "actor", "subject_kind", "subject", "from", "to", "before"}


class BadFilter(ValueError):
    """A filter the log cannot use; the message is the sentence the admin sees."""


def _day(raw: str, name: str) -> date:
    try:
        if not DAY.match(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise BadFilter(f"The {name} date must be a day written YYYY-MM-DD.") from None


def audit_filter(query: dict[str, str], ctx: DeskContext) -> tuple[audit.AuditFilter, int | None]:
    """The query string as care.audit's filter (days in the clinic's zone, both ends
    included) and the page cursor; BadFilter with one sentence for anything else."""
    unknown = set(query) - FILTERS
    if unknown:
        raise BadFilter("The log cannot be filtered by that: reload the desk.")
    get = {k: v.strip() for k, v in query.items() if v.strip()}
    action = get.get("action")
    if action is not None and not ACTION.match(action):
        raise BadFilter("Choose an action from the list.")
    actor_kind, subject_kind = get.get("actor_kind"), get.get("subject_kind")
    if actor_kind is not None and actor_kind not in KINDS:
        raise BadFilter("Choose who acted from the list: staff, patient or system.")
    if subject_kind is not None and subject_kind not in SUBJECTS:
        raise BadFilter("Choose the subject's kind from the list.")
    numbers: dict[str, int | None] = {}
    for name, words in (("actor", "actor"), ("subject", "subject"), ("before", "page")):
        raw = get.get(name)
        numbers[name] = _number(raw) if raw is not None else None
        if raw is not None and numbers[name] is None:
            raise BadFilter(f"The {words} must be a number, e.g. 12.")
    tz = ctx.settings.clinic_timezone
    since = until = None
    if "from" in get:
        since = datetime.combine(_day(get["from"], "start"), time(), tz)
    if "to" in get:
        until = datetime.combine(_day(get["to"], "end") + timedelta(days=1), time(), tz)
    if since is not None and until is not None and since >= until:
        raise BadFilter("The start date is after the end date.")
    where = audit.AuditFilter(
        action=action,
        actor_kind=actor_kind,
        actor_id=numbers["actor"],
        subject_kind=subject_kind,
        subject_id=numbers["subject"],
        since=since,
        until=until,
    )
    return where, numbers["before"]


async def audit_log(request: web.Request) -> web.StreamResponse:
    """/audit, filterable and paged: ids and actions, newest first."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        await _admin(request, db, ctx)
        try:
            where, before = audit_filter(dict(request.query), ctx)
        except BadFilter as exc:
            return problem(400, str(exc))
        found = await audit.events(db, where, before_id=before, limit=AUDIT_PAGE + 1)
        shown = found[:AUDIT_PAGE]
        rows = [
            AuditRow(
                id=e.id or 0,
                at=aware(e.at),
                action=e.action,
                actor_kind=e.actor_kind,
                actor_id=e.actor_id,
                subject_kind=e.subject_kind,
                subject_id=e.subject_id,
            )
            for e in shown
        ]
        more = len(found) > AUDIT_PAGE
        return json_answer(
            AuditPage(
                events=rows,
                page_size=AUDIT_PAGE,
                next_before=rows[-1].id if more and rows else None,
                actions=await audit.actions(db),
            )
        )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/admin/staff", staff_list)
    app.router.add_get("/api/admin/staff/{staff_id}/deactivate", deactivate_preview)
    app.router.add_post("/api/admin/staff/{staff_id}/deactivate", deactivate)
    app.router.add_post("/api/admin/invites", invite)
    app.router.add_post("/api/admin/invites/send", send_invite)
    app.router.add_get("/api/admin/reassign", reassign_list)
    app.router.add_post("/api/admin/patients/{patient_id}/reassign", reassign)
    app.router.add_get("/api/admin/audit", audit_log)
