"""The desk's JSON API (under /desk/api/), for therapists and admins.

Every call names its caller with the Mini App's initData (auth.py), and every action
is a care/ operation the chat's buttons call too: acknowledging here is
`care.alerts.acknowledge`, which checks the caller may act on the alert and queues the
edit of every chat copy of its card (one truth for the chat and the desk). Every view
is audited (care/audit.py), ids and counts only. Handlers never commit: the care/
operation (or the audit of a read) is the unit of work.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import BufferedInputFile
from aiohttp import web
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.alert_view import question_name, tier_label
from bot.config import Settings
from bot.desk.auth import DESK_ROLES, THERAPIST_ROLES, Caller, DeskRefused, desk_caller
from bot.desk.models import (
    AlertDone,
    AlertItem,
    AlertQueue,
    AnswerItem,
    ExportSent,
    Me,
    PatientDetail,
    PatientList,
    PatientRow,
    Point,
    Problem,
)
from bot.formatting import language_of
from bot.texts import t
from bot.therapist_view import already_done, csv_caption, done, trend
from care import audit
from care.alerts import AckOutcome, acknowledge, open_alerts_for, waiting
from care.charts import responder_ceiling
from care.context import sessions_of
from care.export_rows import export_rows
from care.exports import answers_csv, fhir_bundle, fhir_json
from care.patient_view import (
    adherence_days,
    answers_of,
    chart_series,
    checkin_response,
    may_see_patient,
    next_checkin_at,
    open_alert_count,
    recent_ratings,
    therapist_patients,
)
from flows.protocol import Protocol
from flows.triage import Tier
from scheduler.clock import Clock
from store.db import SessionFactory
from store.models import Alert, AlertState, Patient, PatientStatus, Role, StaffMember

#: the desk page is in English for now (its own texts); the refusal is the chat's sentence
NOT_AVAILABLE = t("not_allowed", "en")
log = logging.getLogger(__name__)

MAX_PATIENTS = 500  # one screen; a clinic's therapist follows far fewer


@dataclass(frozen=True)
class DeskContext:
    """What the API needs of the running bot (the bot: exports and join links go to the
    caller's chat; the protocol: the regions offered at enrollment)."""

    sessions: SessionFactory
    settings: Settings
    clock: Clock
    bot: Bot
    protocol: Protocol
    bot_username: str


DeskSource = Callable[[], DeskContext]
"""The running bot's context, asked for at each request (the sandbox restarts its bot)."""

Wall = Callable[[], datetime]
SOURCE_KEY: web.AppKey[DeskSource] = web.AppKey("desk_source")
WALL_KEY: web.AppKey[Wall] = web.AppKey("desk_wall")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_answer(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        text=model.model_dump_json(),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def problem(status: int, error: str) -> web.Response:
    return json_answer(Problem(error=error), status)


@web.middleware
async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A refused caller gets a Problem body with 401 or 403, never a traceback."""
    try:
        return await handler(request)
    except DeskRefused as exc:
        return problem(exc.status, NOT_AVAILABLE if exc.status == 403 else exc.reason)


def desk_context(request: web.Request) -> DeskContext:
    return request.app[SOURCE_KEY]()


async def desk_caller_of(
    request: web.Request,
    db: AsyncSession,
    ctx: DeskContext,
    roles: tuple[Role, ...] = THERAPIST_ROLES,
) -> Caller:
    return await desk_caller(
        db,
        request.headers.get("Authorization"),
        ctx.settings.bot_token,
        admin_ids=ctx.settings.admin_ids,
        roles=roles,
        wall=request.app[WALL_KEY],
    )


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive UTC instants; the API says UTC explicitly."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else aware(moment)


async def _name_of(db: AsyncSession, staff_id: int | None) -> str | None:
    if staff_id is None:
        return None
    person = await db.get(StaffMember, staff_id)
    return person.name if person else "—"


async def alert_item(db: AsyncSession, alert: Alert, now: datetime) -> AlertItem:
    """An alert as the queue shows it (the chat card's facts, without its wording)."""
    assert alert.id is not None
    patient = await db.get(Patient, alert.patient_id)
    raised = _utc(alert.created_at)
    assert raised is not None
    tier = Tier(alert.tier)
    return AlertItem(
        id=alert.id,
        tier=tier.value,
        tier_label=tier_label(tier, "en"),  # the desk is English for now
        patient_id=alert.patient_id,
        patient_name=(patient.display_name if patient else None) or "—",
        reasons=list(alert.reasons),
        raised_at=raised,
        age_minutes=max(0, int((now - raised).total_seconds() // 60)),
        state=alert.state,
        escalation_level=alert.escalation_level,
        occurrences=alert.occurrences,
        acknowledged_by=await _name_of(db, alert.acknowledged_by),
        acknowledged_at=_utc(alert.acknowledged_at),
        called_back_by=await _name_of(db, alert.called_back_by),
        called_back_at=_utc(alert.called_back_at),
        can_acknowledge=alert.state == AlertState.OPEN,
        can_call_back=waiting(alert),
    )


async def me(request: web.Request) -> web.StreamResponse:
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        staff = (await desk_caller_of(request, db, ctx, DESK_ROLES)).staff
        assert staff.id is not None
        return json_answer(
            Me(
                staff_id=staff.id,
                name=staff.name,
                role=staff.role,
                clinic=ctx.settings.clinic_name,
                timezone=ctx.settings.clinic_timezone.key,
            )
        )


async def alerts(request: web.Request) -> web.StreamResponse:
    """The queue: what /alerts would post, as data (care.alerts.open_alerts_for)."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        staff = (await desk_caller_of(request, db, ctx)).staff
        now = ctx.clock.now()
        found = await open_alerts_for(db, staff)
        items = [await alert_item(db, alert, now) for alert in found]
        await audit.record_access(
            db, now=now, action="desk_alerts_viewed", staff_id=staff.id, alerts=len(items)
        )
        return json_answer(AlertQueue(alerts=items))


def _alert_id(request: web.Request) -> int | None:
    raw = request.match_info["alert_id"]
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


async def acknowledged(request: web.Request) -> web.StreamResponse:
    return await _done(request, called_back=False)


async def called_back(request: web.Request) -> web.StreamResponse:
    return await _done(request, called_back=True)


async def _done(request: web.Request, *, called_back: bool) -> web.StreamResponse:
    """Acknowledge or Call back done, exactly as the chat's buttons do."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        staff = (await desk_caller_of(request, db, ctx)).staff
        alert_id = _alert_id(request)
        if alert_id is None:
            return problem(404, NOT_AVAILABLE)
        now = ctx.clock.now()
        result = await acknowledge(
            db, alert_id=alert_id, staff=staff, now=now, called_back=called_back
        )
        if result.outcome == AckOutcome.REFUSED or result.alert is None:
            log.info("desk: alert %s refused for staff %s", alert_id, staff.id)
            return problem(403, NOT_AVAILABLE)
        if result.outcome == AckOutcome.ALREADY:
            by = result.by.name if result.by else None
            lang = language_of(ctx.settings.clinic_locale)
            message = already_done(called_back=called_back, by=by, lang=lang)
            outcome = "already"
        else:
            log.info("desk: alert %s %s by staff %s", alert_id, result.outcome, staff.id)
            lang = language_of(ctx.settings.clinic_locale)
            message, outcome = done(result.outcome, lang), str(result.outcome)
        item = await alert_item(db, result.alert, now)
        return json_answer(AlertDone(outcome=outcome, message=message, alert=item))


async def patient_row(db: AsyncSession, patient: Patient) -> PatientRow:
    """The chat's /patients line, with the numbers the desk can sort by."""
    assert patient.id is not None
    ratings = await recent_ratings(db, patient.id, keys=("Q2",), limit=1)
    last = ratings[0] if ratings else None
    answered, sent = await checkin_response(db, patient.id)
    weeks = await adherence_days(db, patient.id)
    return PatientRow(
        id=patient.id,
        name=patient.display_name or "—",
        status=patient.status,
        baseline_pain=patient.baseline_pain,
        last_pain=last.value if last else None,
        last_pain_at=_utc(last.at) if last else None,
        trend=trend(patient.baseline_pain, last.value if last else None),
        sessions=len(await sessions_of(db, patient.id)),
        answered=answered,
        sent=sent,
        response_rate=round(answered / sent, 3) if sent else None,
        exercise_days_last_week=weeks[-1] if weeks else None,
        open_alerts=await open_alert_count(db, patient.id),
        next_checkin_at=_utc(await next_checkin_at(db, patient.id)),
    )


async def patients(request: web.Request) -> web.StreamResponse:
    """My patients: a therapist's own (care.patient_view.therapist_patients), an admin's all."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        staff = (await desk_caller_of(request, db, ctx)).staff
        owner = None if staff.role == Role.ADMIN else staff.id
        found, _ = await therapist_patients(db, owner, offset=0, limit=MAX_PATIENTS)
        rows = [await patient_row(db, patient) for patient in found]
        await audit.record_access(
            db,
            now=ctx.clock.now(),
            action="desk_patients_viewed",
            staff_id=staff.id,
            patients=len(rows),
        )
        return json_answer(PatientList(patients=rows))


QUESTION_LABELS = {
    "Q1": question_name("Q1", "en"),
    "Q2": question_name("Q2", "en"),
    "Q9": "exercise days",
}
ANSWERS_SHOWN = 200


def _patient_id(request: web.Request) -> int | None:
    raw = request.match_info["patient_id"]
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


async def _patient_for(
    request: web.Request, db: AsyncSession, staff: StaffMember
) -> Patient | None:
    """The patient the path names, when the caller may see them (care.patient_view's
    rule, the chat's too); None otherwise — absent, erased or another's, all alike."""
    patient_id = _patient_id(request)
    patient = await db.get(Patient, patient_id) if patient_id is not None else None
    if patient is None or patient.status == PatientStatus.DELETED:
        return None
    if not may_see_patient(staff, patient):
        log.info("desk: patient %s refused for staff %s", patient_id, staff.id)
        return None
    return patient


async def patient_page(request: web.Request) -> web.StreamResponse:
    """The patient page: chart series, baseline and responder line, answers. Audited as
    the chat's patient card is (`patient_viewed`)."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        staff = (await desk_caller_of(request, db, ctx)).staff
        patient = await _patient_for(request, db, staff)
        if patient is None or patient.id is None:
            return problem(403, NOT_AVAILABLE)
        usual, soreness, sessions = await chart_series(db, patient.id)
        answers = await answers_of(db, patient.id, limit=ANSWERS_SHOWN)
        detail = PatientDetail(
            patient=await patient_row(db, patient),
            responder_ceiling=responder_ceiling(patient.baseline_pain),
            usual_pain=[Point(at=aware(p.at), value=p.value) for p in usual],
            soreness=[Point(at=aware(p.at), value=p.value) for p in soreness],
            sessions=[aware(at) for at in sessions],
            answers=[
                AnswerItem(
                    at=aware(a.at),
                    checkin=a.checkin_key,
                    question=a.question_key,
                    label=QUESTION_LABELS.get(a.question_key, a.question_key),
                    value=a.value,
                )
                for a in answers
            ],
        )
        await audit.record_access(
            db,
            now=ctx.clock.now(),
            action="patient_viewed",
            staff_id=staff.id,
            subject_kind="patient",
            subject_id=patient.id,
            via="desk",
        )
        return json_answer(detail)


async def export_patient(request: web.Request) -> web.StreamResponse:
    """The patient's answers as CSV and as a FHIR R4 Bundle, sent to the caller's private
    chat with the bot (as /export sends them); audited as an export."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        staff = (await desk_caller_of(request, db, ctx)).staff
        patient = await _patient_for(request, db, staff)
        if patient is None or patient.id is None:
            return problem(403, NOT_AVAILABLE)
        now = ctx.clock.now()
        everyone = await export_rows(
            db,
            patient.therapist_id,
            protocol=ctx.protocol,
            lang=language_of(ctx.settings.clinic_locale),
        )
        rows = [r for r in everyone if r.patient_id == patient.id]
        stamp = now.astimezone(ctx.settings.clinic_timezone).strftime("%Y%m%d-%H%M")
        bundle = fhir_bundle(rows, generated_at=now, clinic_name=ctx.settings.clinic_name)
        name = f"careloop-patient-{patient.id}-{stamp}"
        try:
            await ctx.bot.send_document(
                staff.tg_user_id,
                BufferedInputFile(answers_csv(rows), filename=f"{name}.csv"),
                caption=csv_caption(len(rows), language_of(ctx.settings.clinic_locale)),
            )
            await ctx.bot.send_document(
                staff.tg_user_id,
                BufferedInputFile(fhir_json(bundle), filename=f"{name}-fhir.json"),
                caption=t("fhir_caption", language_of(ctx.settings.clinic_locale)),
            )
        except (TelegramForbiddenError, TelegramBadRequest):
            log.info("desk: export for staff %s not delivered to their chat", staff.id)
            return problem(409, NO_PRIVATE_CHAT)
        await audit.record_access(
            db,
            now=now,
            action="export",
            staff_id=staff.id,
            subject_kind="patient",
            subject_id=patient.id,
            rows=len(rows),
            via="desk",
        )
        log.info(
            "desk: export of %d answers of patient %s by staff %s", len(rows), patient.id, staff.id
        )
        return json_answer(ExportSent(rows=len(rows), message=EXPORT_SENT))


EXPORT_SENT = "CSV and FHIR files sent to your chat with the bot."
NO_PRIVATE_CHAT = "Open your chat with the bot (tap Start), then export again."


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/me", me)
    app.router.add_get("/api/alerts", alerts)
    app.router.add_post("/api/alerts/{alert_id}/ack", acknowledged)
    app.router.add_post("/api/alerts/{alert_id}/called-back", called_back)
    app.router.add_get("/api/patients", patients)
    app.router.add_get("/api/patients/{patient_id}", patient_page)
    app.router.add_post("/api/patients/{patient_id}/export", export_patient)
