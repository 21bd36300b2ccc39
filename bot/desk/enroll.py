"""One-screen enrollment for the front desk (and admins): the chat's /enroll as one form.

The form's answers go to `care.enrollment.enroll`, the operation /enroll calls: the same
checks (name, active therapist, regions, baseline, a session not in the future), the same
audit events, one patient per form however often it is sent (`enroll_key`, invariant 9).
The answer carries the one-time join link and its QR code; "Send to my chat" sends them
to the caller's chat as /enroll does, for a link the caller made and that is still valid.
"""

from __future__ import annotations

import base64
import html
import logging
import re
from datetime import timedelta

from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import BufferedInputFile
from aiohttp import web
from pydantic import ValidationError

from bot.desk.api import (
    NO_PRIVATE_CHAT,
    NOT_AVAILABLE,
    aware,
    desk_caller_of,
    desk_context,
    json_answer,
    problem,
)
from bot.desk.auth import ENROLL_ROLES
from bot.desk.models import (
    Choice,
    Enrolled,
    EnrollForm,
    EnrollRequest,
    LinkSent,
    Region,
    SendLink,
)
from bot.desk_view import TIME_CHOICES_MINUTES
from bot.links import deep_link, qr_png
from bot.texts import t
from care.context import sessions_of
from care.enrollment import SCREENING_FACTS, AlreadyEnrolled, EnrollmentError, enroll
from care.people import find_link, therapists
from store.models import Patient, StaffMember

log = logging.getLogger(__name__)

#: care.enrollment's reasons, as the form says them
REFUSALS = {
    "empty": "Type the patient's name.",
    "too_long": "The name is too long: 64 characters at most.",
    "baseline": "Choose a baseline pain from 0 to 10.",
    "regions": "Choose at least one region needled.",
    "future": "The session cannot end in the future.",
    "therapist": "Choose an active therapist.",
    "screening": "Tick what applies, or tap “None of these”.",
}
LEGS_UNANSWERED = "Say whether the patient has buttock or leg symptoms: Yes or No."
SCREENING_BOTH = "Tick what applies, or “None of these”, not both."
_TAG = re.compile(r"<[^>]+>")


def plain(text: str) -> str:
    """A catalogue text (Telegram HTML, values quoted by `t`) as plain words for the page,
    which sets it as textContent."""
    return html.unescape(_TAG.sub("", text))


def screening_refusal(body: EnrollRequest) -> str | None:
    """Both screening answers are required, as the chat's /enroll asks them: buttock or leg
    symptoms Yes or No, and the facts ticked or "None of these" (one sentence if not)."""
    if body.leg_symptoms is None:
        return LEGS_UNANSWERED
    if body.screening_none and body.screening:
        return SCREENING_BOTH
    if not body.screening_none and not body.screening:
        return plain(t("enroll_screening_pick", "en"))
    if not set(body.screening) <= set(SCREENING_FACTS):
        return REFUSALS["screening"]
    return None


ALREADY = "This form was already sent: the patient is enrolled once."
LINK_SENT = "The join link and its QR code are in your chat with the bot."


async def form(request: web.Request) -> web.StreamResponse:
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        staff = (await desk_caller_of(request, db, ctx, ENROLL_ROLES)).staff
        lang = staff.language
        people = await therapists(db)
        return json_answer(
            EnrollForm(
                therapists=[Choice(id=p.id or 0, name=p.name) for p in people],
                regions=[
                    Region(key=key, label=region.label.get(staff.language))
                    for key, region in ctx.protocol.regions.items()
                ],
                minutes_ago=list(TIME_CHOICES_MINUTES),
                link_hours=_link_hours(ctx.settings.invite_ttl),
                # the chat's /enroll words (bot/texts.py), as plain text
                legs_question=plain(t("screening_legs_yes", lang)).capitalize(),
                legs_yes=plain(t("btn_legs_yes", lang)),
                legs_no=plain(t("btn_legs_no", lang)),
                screening=[
                    Region(key=fact, label=plain(t(f"screen_{fact}", lang)))
                    for fact in SCREENING_FACTS
                ],
                screening_none=plain(t("btn_screen_none", lang)),
            )
        )


def _link_hours(ttl: timedelta) -> int:
    return round(ttl.total_seconds() / 3600)


async def submit(request: web.Request) -> web.StreamResponse:
    """Enroll from the form; 400 with one sentence (nothing written) for a bad answer."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        staff = (await desk_caller_of(request, db, ctx, ENROLL_ROLES)).staff
        try:
            body = EnrollRequest.model_validate(await request.json())
        except (ValueError, ValidationError):  # not JSON, or not the form's shape
            return problem(400, "The form could not be read: reload the desk and try again.")
        if body.minutes_ago not in TIME_CHOICES_MINUTES:
            return problem(400, "Choose when the session ended.")
        if not set(body.regions) <= set(ctx.protocol.regions):
            return problem(400, REFUSALS["regions"])
        if not 0 <= body.baseline_pain <= 10:
            return problem(400, REFUSALS["baseline"])
        refused = screening_refusal(body)
        if refused is not None:
            return problem(400, refused)
        now = ctx.clock.now()
        try:
            result = await enroll(
                db,
                staff=staff,
                display_name=body.name,
                therapist_id=body.therapist_id,
                session_ended_at=now - timedelta(minutes=body.minutes_ago),
                regions=list(dict.fromkeys(body.regions)),
                baseline_pain=body.baseline_pain,
                language="en",
                now=now,
                link_ttl=ctx.settings.invite_ttl,
                enroll_key=body.enroll_key,
                leg_symptoms=bool(body.leg_symptoms),
                screening=[] if body.screening_none else list(body.screening),
                protocol=ctx.protocol,  # the default home programme, as the chat's /enroll
            )
        except AlreadyEnrolled:
            return problem(409, ALREADY)
        except EnrollmentError as exc:
            return problem(400, REFUSALS.get(str(exc), "The patient could not be enrolled."))
        assert result.patient.id is not None
        log.info("desk: patient enrolled patient_id=%s by staff_id=%s", result.patient.id, staff.id)
        link = deep_link(ctx.bot_username, result.token)
        return json_answer(
            Enrolled(
                patient_id=result.patient.id,
                name=result.patient.display_name or "",
                link=link,
                qr_png_base64=base64.b64encode(qr_png(link)).decode(),
                link_hours=_link_hours(ctx.settings.invite_ttl),
            )
        )


async def send_link(request: web.Request) -> web.StreamResponse:
    """The join link and its QR code to the caller's chat, as /enroll sends them: only a
    link of this patient, made by the caller, not yet used or expired."""
    ctx = desk_context(request)
    async with ctx.sessions() as db:
        staff = (await desk_caller_of(request, db, ctx, ENROLL_ROLES)).staff
        try:
            body = SendLink.model_validate(await request.json())
        except (ValueError, ValidationError):
            return problem(400, "The form could not be read: reload the desk and try again.")
        raw = request.match_info["patient_id"]
        token = body.link.rpartition("?start=")[2]
        link = await find_link(db, token) if raw.isdigit() and token else None
        now = ctx.clock.now()
        if (
            link is None
            or link.kind != "join"
            or link.patient_id != int(raw)
            or link.created_by != staff.id
            or link.used_at is not None
            or aware(link.expires_at) <= now
        ):
            return problem(403, NOT_AVAILABLE)
        patient = await db.get(Patient, link.patient_id)
        assert patient is not None
        therapist = await db.get(StaffMember, patient.therapist_id)
        [first, *_] = await sessions_of(db, link.patient_id)
        labels = {k: r.label.get(staff.language) for k, r in ctx.protocol.regions.items()}
        text = t(  # the message /enroll sends
            "enroll_done",
            staff.language,
            name=patient.display_name or "—",
            therapist=therapist.name if therapist else "—",
            ended=aware(first.ended_at).astimezone(ctx.settings.clinic_timezone).strftime("%H:%M"),
            regions=", ".join(labels.get(k, k) for k in first.regions),
            baseline=patient.baseline_pain,
            hours=_link_hours(ctx.settings.invite_ttl),
            link=deep_link(ctx.bot_username, token),
        )
        qr = BufferedInputFile(qr_png(deep_link(ctx.bot_username, token)), filename="join-qr.png")
        try:
            await ctx.bot.send_message(staff.tg_user_id, text)
            await ctx.bot.send_photo(
                staff.tg_user_id,
                qr,
                caption=t("enroll_qr_caption", staff.language, clinic=ctx.settings.clinic_name),
            )
        except (TelegramForbiddenError, TelegramBadRequest):
            return problem(409, NO_PRIVATE_CHAT)
        log.info("desk: join link of patient %s sent to staff %s", patient.id, staff.id)
        return json_answer(LinkSent(message=LINK_SENT))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/enroll/form", form)
    app.router.add_post("/api/enroll", submit)
    app.router.add_post("/api/enroll/{patient_id}/send", send_link)
