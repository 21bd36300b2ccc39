"""The front desk's other screens: record a session, discharge (the chat's /session and
/discharge as forms).

The same roles as the chat's routers (front-desk staff and admins), the same care/
operations: `care.sessions.record_session` (session N+1, its check-ins planned) and
`care.records.still_open` / `care.records.discharge` (what is still open, then a discharge
that happens once). Their refusals are the chat's words (bot/texts.py), as plain text.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from aiohttp import web
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.desk.api import (
    NOT_AVAILABLE,
    DeskContext,
    aware,
    desk_caller_of,
    desk_context,
    json_answer,
    problem,
)
from bot.desk.auth import ENROLL_ROLES
from bot.desk.enroll import plain
from bot.desk.models import (
    DischargeCheck,
    Discharged,
    FollowedList,
    FollowedPatient,
    OpenAlert,
    Region,
    SessionForm,
    SessionRecorded,
    SessionRequest,
)
from bot.desk_view import TIME_CHOICES_MINUTES, discharge_confirmation
from bot.formatting import staff_style
from bot.texts import t
from care import audit, records
from care.context import latest_session, sessions_of
from care.sessions import FOLLOWED, SessionError, followed_patients, name_matches, record_session
from flows.triage import Tier
from store.models import Patient, StaffMember

log = logging.getLogger(__name__)

MAX_FOLLOWED = 200  # one screen; type part of a name for the rest
UNREADABLE = "The form could not be read: reload the desk and try again."
CHOOSE_WHEN = "Choose when the session ended."
ALREADY_RECORDED = "This session was already recorded: reload the patient to record another."


def _patient_id(request: web.Request) -> int | None:
    raw = request.match_info["patient_id"]
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


async def _followed(db: AsyncSession, patient_id: int | None) -> Patient | None:
    patient = await db.get(Patient, patient_id) if patient_id is not None else None
    return patient if patient is not None and patient.status in FOLLOWED else None


async def followed(request: web.Request) -> web.StreamResponse:
    """The patients in follow-up the front desk may pick (all of them, as the chat's
    pickers), or those whose name holds the typed words."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        staff = (await desk_caller_of(request, db, ctx, ENROLL_ROLES)).staff
        everyone = await followed_patients(db)
        typed = request.query.get("q", "").strip()[:64]
        found = name_matches(everyone, typed) if typed else everyone
        rows = []
        for patient in found[:MAX_FOLLOWED]:
            assert patient.id is not None
            therapist = await db.get(StaffMember, patient.therapist_id)
            sessions = await sessions_of(db, patient.id)
            rows.append(
                FollowedPatient(
                    id=patient.id,
                    name=patient.display_name or "—",
                    status=patient.status,
                    therapist=therapist.name if therapist else "—",
                    sessions=len(sessions),
                    last_session_at=aware(sessions[-1].ended_at) if sessions else None,
                )
            )
        await audit.record_access(
            db,
            now=ctx.clock.now(),
            action="desk_followed_viewed",
            staff_id=staff.id,
            patients=len(rows),
        )
        return json_answer(FollowedList(patients=rows))


async def session_form(request: web.Request) -> web.StreamResponse:
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        staff = (await desk_caller_of(request, db, ctx, ENROLL_ROLES)).staff
        patient = await _followed(db, _patient_id(request))
        if patient is None or patient.id is None:
            return problem(409, plain(t("session_patient_gone", staff.language)))
        last = await latest_session(db, patient.id)
        return json_answer(
            SessionForm(
                patient_id=patient.id,
                name=patient.display_name or "—",
                last_number=last.number if last else 0,
                last_ended_at=aware(last.ended_at) if last else None,
                last_regions=[
                    r for r in (last.regions if last else []) if r in ctx.protocol.regions
                ],
                regions=[
                    Region(key=key, label=region.label.get(staff.language))
                    for key, region in ctx.protocol.regions.items()
                ],
                minutes_ago=list(TIME_CHOICES_MINUTES),
            )
        )


async def record(request: web.Request) -> web.StreamResponse:
    """Session N+1 through care.sessions.record_session, as /session's last step."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        staff = (await desk_caller_of(request, db, ctx, ENROLL_ROLES)).staff
        lang = staff.language
        try:
            body = SessionRequest.model_validate(await request.json())
        except (ValueError, ValidationError):
            return problem(400, UNREADABLE)
        patient = await _followed(db, _patient_id(request))
        if patient is None or patient.id is None:
            return problem(409, plain(t("session_patient_gone", lang)))
        if body.minutes_ago not in TIME_CHOICES_MINUTES:
            return problem(400, CHOOSE_WHEN)
        if not body.regions or not set(body.regions) <= set(ctx.protocol.regions):
            return problem(400, plain(t("enroll_regions_none", lang)))
        last = await latest_session(db, patient.id)
        if (last.number if last else 0) != body.last_number:  # a second copy of the submit
            return problem(409, ALREADY_RECORDED)
        now = ctx.clock.now()
        try:
            session = await record_session(
                db,
                ctx.protocol,
                staff=staff,
                patient_id=patient.id,
                ended_at=now - timedelta(minutes=body.minutes_ago),
                regions=list(dict.fromkeys(body.regions)),
                default_tz=ctx.settings.clinic_timezone,
                now=now,
            )
        except SessionError as exc:
            return problem(400, plain(t(str(exc), lang)))
        log.info("desk: session %s recorded for patient %s", session.number, patient.id)
        name = patient.display_name or "—"
        return json_answer(
            SessionRecorded(
                patient_id=patient.id,
                number=session.number,
                message=plain(t("session_done", lang, name=name, number=session.number)),
            )
        )


async def discharge_check(request: web.Request) -> web.StreamResponse:
    """What is still open (care.records.still_open) and the chat's confirmation, as words."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        staff = (await desk_caller_of(request, db, ctx, ENROLL_ROLES)).staff
        patient_id = _patient_id(request)
        if patient_id is None:
            return problem(404, NOT_AVAILABLE)
        try:
            seen = await records.still_open(db, patient_id=patient_id)
        except records.RecordError as exc:
            return problem(409, plain(t(str(exc), staff.language)))
        text = _confirmation(seen, ctx, staff.language)
        alerts = []
        for alert in seen.alerts:
            assert alert.id is not None
            alerts.append(
                OpenAlert(
                    id=alert.id,
                    tier=Tier(alert.tier).value,
                    tier_label=plain(t(f"tier_{Tier(alert.tier).value}", staff.language)),
                    raised_at=aware(alert.created_at),
                    waiting_for="acknowledge" if alert.acknowledged_at is None else "call_back",
                )
            )
        await audit.record_access(
            db,
            now=ctx.clock.now(),
            action="discharge_checked",
            staff_id=staff.id,
            subject_kind="patient",
            subject_id=patient_id,
            via="desk",
        )
        return json_answer(
            DischargeCheck(
                patient_id=patient_id,
                name=seen.patient.display_name or "—",
                alerts=alerts,
                open_checkins=seen.open_checkins,
                planned_checkins=seen.planned_checkins,
                lines=[line for line in plain(text).split("\n") if line.strip()],
                confirm=plain(t("btn_discharge_yes", staff.language)),
                keep=plain(t("btn_discharge_no", staff.language)),
            )
        )


def _confirmation(seen: records.StillOpen, ctx: DeskContext, lang: str) -> str:
    """The chat's /discharge confirmation (bot/desk_view.py), its words only."""
    style = staff_style(ctx.settings.clinic_locale, ctx.settings.clinic_timezone)
    text, _ = discharge_confirmation(seen, style)
    return text


async def discharge(request: web.Request) -> web.StreamResponse:
    """ "Yes, discharge": care.records.discharge, once; a second confirmation (or one for a
    patient discharged meanwhile) is told so, and nothing changes."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        staff = (await desk_caller_of(request, db, ctx, ENROLL_ROLES)).staff
        patient_id = _patient_id(request)
        if patient_id is None:
            return problem(404, NOT_AVAILABLE)
        try:
            patient = await records.discharge(
                db, patient_id=patient_id, staff=staff, now=ctx.clock.now()
            )
        except records.RecordError as exc:
            return problem(409, plain(t(str(exc), staff.language)))
        log.info("desk: patient %s discharged by staff %s", patient.id, staff.id)
        name = patient.display_name or "—"
        return json_answer(
            Discharged(
                patient_id=patient_id,
                message=plain(t("discharge_done", staff.language, name=name)),
            )
        )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/frontdesk/patients", followed)
    app.router.add_get("/api/frontdesk/patients/{patient_id}/session", session_form)
    app.router.add_post("/api/frontdesk/patients/{patient_id}/session", record)
    app.router.add_get("/api/frontdesk/patients/{patient_id}/discharge", discharge_check)
    app.router.add_post("/api/frontdesk/patients/{patient_id}/discharge", discharge)
