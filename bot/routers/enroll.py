"""/enroll and /session: the front desk starts a follow-up, or records a new session.

Every step keeps its answers in the FSM only; nothing touches the database until
the last step, so /cancel at any point leaves nothing behind.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    Message,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import (
    EnrollBaselineCb,
    EnrollLegsCb,
    EnrollRegionCb,
    EnrollRegionsDoneCb,
    EnrollScreenCb,
    EnrollTherapistCb,
    EnrollTimeCb,
    PageCb,
    PatientList,
    ScreenAction,
    SessionPatientCb,
)
from bot.config import Settings
from bot.desk_view import (
    TIME_CHOICES_MINUTES,
    baseline_keyboard,
    desk_matches,
    desk_page,
    legs_keyboard,
    regions_chosen,
    regions_keyboard,
    screening_facts,
    screening_keyboard,
    screening_summary,
    staff_picker,
    time_keyboard,
    time_label,
)
from bot.filters import HasRole
from bot.formatting import staff_style
from bot.identity import Actor
from bot.links import deep_link, qr_png
from bot.replies import close_with_choice, turn_page
from bot.texts import clinic_of, t
from bot.typed import strip_control
from care.context import latest_session
from care.enrollment import (
    SCREENING_FACTS,
    AlreadyEnrolled,
    EnrollmentError,
    clean_display_name,
    enroll,
)
from care.people import therapists
from care.sessions import FOLLOWED, SessionError, followed_patients, record_session
from flows.protocol import Protocol
from scheduler.clock import Clock
from store.models import Patient, Role, StaffMember

log = logging.getLogger(__name__)


def _clock(settings: Settings, moment: datetime) -> str:
    """A time of day as the clinic writes it ("14:30", "2:30 PM")."""
    return staff_style(settings.clinic_locale, settings.clinic_timezone).clock(moment)


_HHMM = re.compile(r"^\s*([01]?\d|2[0-3])[:.h]([0-5]\d)\s*$")


class Enroll(StatesGroup):
    """The desk's steps; /session reuses time and regions after picking the patient."""

    session_patient = State()
    name = State()
    therapist = State()
    time = State()
    regions = State()
    legs = State()
    screening = State()
    baseline = State()


def _therapist_button(staff_id: int) -> EnrollTherapistCb:
    return EnrollTherapistCb(staff_id=staff_id)


async def start_enroll(message: Message, actor: Actor, state: FSMContext) -> None:
    await state.clear()
    await state.set_state(Enroll.name)
    # names this conversation: the patient it creates carries it, once (invariant 9)
    await state.update_data(enroll_key=secrets.token_hex(16))
    await message.answer(t("enroll_name", actor.lang))


async def got_name(message: Message, actor: Actor, state: FSMContext, db: AsyncSession) -> None:
    raw = message.text or ""
    try:
        name = clean_display_name(raw)
    except EnrollmentError as exc:
        if str(exc) == "too_long":
            length = len(" ".join(raw.split()))
            await message.answer(t("enroll_name_too_long", actor.lang, length=length))
        else:
            await message.answer(t("enroll_name_empty", actor.lang))
        return
    people = await therapists(db)
    if not people:
        await state.clear()
        await message.answer(t("enroll_no_therapists", actor.lang))
        return
    await state.update_data(name=name)
    await state.set_state(Enroll.therapist)
    await message.answer(
        t("enroll_therapist", actor.lang, name=name),
        reply_markup=staff_picker(people, _therapist_button),
    )


async def name_not_text(message: Message, actor: Actor) -> None:
    await message.answer(t("enroll_name_empty", actor.lang))


async def got_therapist(
    query: CallbackQuery,
    callback_data: EnrollTherapistCb,
    actor: Actor,
    state: FSMContext,
    db: AsyncSession,
    settings: Settings,
) -> None:
    therapist = await db.get(StaffMember, callback_data.staff_id)
    if therapist is None or therapist.role != Role.THERAPIST or not therapist.active:
        await query.answer(t("button_expired", actor.lang), show_alert=True)
        return
    await state.update_data(therapist_id=therapist.id, therapist_name=therapist.name)
    await state.set_state(Enroll.time)
    await query.answer()
    if isinstance(query.message, Message):
        await close_with_choice(query.message, therapist.name)
        await query.message.answer(
            t("enroll_time", actor.lang, tz=settings.clinic_timezone.key),
            reply_markup=time_keyboard(actor.lang),
        )


async def _ask_regions(
    message: Message, state: FSMContext, actor: Actor, protocol: Protocol, ended: datetime
) -> None:
    """The regions step; /session starts from the last session's regions (ticked)."""
    data = await state.get_data()
    regions = [r for r in data.get("last_regions", []) if r in protocol.regions]
    await state.update_data(ended_at=ended.isoformat(), regions=regions)
    await state.set_state(Enroll.regions)
    await message.answer(
        t("enroll_regions", actor.lang),
        reply_markup=regions_keyboard(protocol, regions, actor.lang),
    )


async def got_time_button(
    query: CallbackQuery,
    callback_data: EnrollTimeCb,
    actor: Actor,
    state: FSMContext,
    clock: Clock,
    protocol: Protocol,
) -> None:
    if callback_data.minutes_ago not in TIME_CHOICES_MINUTES:
        await query.answer(t("button_expired", actor.lang), show_alert=True)
        return
    await query.answer()
    ended = clock.now() - timedelta(minutes=callback_data.minutes_ago)
    if isinstance(query.message, Message):
        await close_with_choice(query.message, time_label(callback_data.minutes_ago, actor.lang))
        await _ask_regions(query.message, state, actor, protocol, ended)


async def got_time_text(
    message: Message,
    actor: Actor,
    state: FSMContext,
    clock: Clock,
    settings: Settings,
    protocol: Protocol,
) -> None:
    match = _HHMM.match(message.text or "")
    if match is None:
        await message.answer(t("enroll_time_bad", actor.lang))
        return
    now = clock.now()
    local_now = now.astimezone(settings.clinic_timezone)
    ended_local = local_now.replace(
        hour=int(match.group(1)), minute=int(match.group(2)), second=0, microsecond=0
    )
    if ended_local > local_now:
        await message.answer(
            t(
                "enroll_time_future",
                actor.lang,
                time=_clock(settings, ended_local),
                now=_clock(settings, local_now),
            )
        )
        return
    await _ask_regions(message, state, actor, protocol, ended_local)


async def toggle_region(
    query: CallbackQuery,
    callback_data: EnrollRegionCb,
    actor: Actor,
    state: FSMContext,
    protocol: Protocol,
) -> None:
    if callback_data.key not in protocol.regions:
        await query.answer(t("button_expired", actor.lang), show_alert=True)
        return
    data = await state.get_data()
    selected: list[str] = list(data.get("regions", []))
    if callback_data.key in selected:
        selected.remove(callback_data.key)
    else:
        selected.append(callback_data.key)
    await state.update_data(regions=selected)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(
            reply_markup=regions_keyboard(protocol, selected, actor.lang)
        )


async def regions_done(
    query: CallbackQuery,
    staff: StaffMember,
    state: FSMContext,
    protocol: Protocol,
    db: AsyncSession,
    clock: Clock,
    settings: Settings,
) -> None:
    data = await state.get_data()
    if not data.get("regions"):
        await query.answer(t("enroll_regions_none", staff.language), show_alert=True)
        return
    if isinstance(query.message, Message):
        await close_with_choice(
            query.message, regions_chosen(protocol, data["regions"], staff.language)
        )
    if data.get("flow") == "session":
        await _finish_session(query, staff, state, protocol, db, clock, settings, data)
        return
    await state.set_state(Enroll.legs)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(
            t("enroll_legs", staff.language, name=data["name"]),
            reply_markup=legs_keyboard(staff.language),
        )


async def got_legs(
    query: CallbackQuery, callback_data: EnrollLegsCb, actor: Actor, state: FSMContext
) -> None:
    """Buttock or leg symptoms: stored with the patient, it turns Q6 on in their check-ins."""
    await state.update_data(leg_symptoms=callback_data.yes, screening=[])
    await state.set_state(Enroll.screening)
    await query.answer()
    if isinstance(query.message, Message):
        label = t("btn_legs_yes" if callback_data.yes else "btn_legs_no", actor.lang)
        await close_with_choice(query.message, label)
        name = (await state.get_data())["name"]
        await query.message.answer(
            t("enroll_screening", actor.lang, name=name),
            reply_markup=screening_keyboard([], actor.lang),
        )


async def toggle_screening(
    query: CallbackQuery, callback_data: EnrollScreenCb, actor: Actor, state: FSMContext
) -> None:
    if callback_data.i >= len(SCREENING_FACTS):
        await query.answer(t("button_expired", actor.lang), show_alert=True)
        return
    fact = SCREENING_FACTS[callback_data.i]
    selected: list[str] = list((await state.get_data()).get("screening", []))
    if fact in selected:
        selected.remove(fact)
    else:
        selected.append(fact)
    await state.update_data(screening=selected)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=screening_keyboard(selected, actor.lang))


async def screening_done(
    query: CallbackQuery, callback_data: EnrollScreenCb, actor: Actor, state: FSMContext
) -> None:
    """Done (with at least one fact ticked) or "None of these": on to the baseline."""
    selected: list[str] = list((await state.get_data()).get("screening", []))
    if callback_data.action == ScreenAction.none:
        selected = []
    elif not selected:
        await query.answer(t("enroll_screening_pick", actor.lang), show_alert=True)
        return
    selected = [f for f in SCREENING_FACTS if f in selected]
    await state.update_data(screening=selected)
    await state.set_state(Enroll.baseline)
    await query.answer()
    if isinstance(query.message, Message):
        await close_with_choice(query.message, screening_facts(selected, actor.lang))
        await query.message.answer(
            t("enroll_baseline", actor.lang), reply_markup=baseline_keyboard()
        )


async def _finish_session(
    query: CallbackQuery,
    staff: StaffMember,
    state: FSMContext,
    protocol: Protocol,
    db: AsyncSession,
    clock: Clock,
    settings: Settings,
    data: dict[str, Any],
) -> None:
    """The /session flow ends here: store session N+1 and plan its check-ins."""
    await state.clear()
    try:
        session = await record_session(
            db,
            protocol,
            staff=staff,
            patient_id=data["patient_id"],
            ended_at=datetime.fromisoformat(data["ended_at"]),
            regions=data["regions"],
            default_tz=settings.clinic_timezone,
            now=clock.now(),
        )
    except SessionError as exc:
        await query.answer(t(str(exc), staff.language), show_alert=True)
        return
    await query.answer()
    log.info("session %s recorded for patient %s", session.number, session.patient_id)
    if isinstance(query.message, Message):
        await query.message.answer(
            t("session_done", staff.language, name=data["patient_name"], number=session.number)
        )


async def start_session(
    message: Message, actor: Actor, state: FSMContext, db: AsyncSession
) -> None:
    """/session: pick the patient, then the same time and region steps as enrollment."""
    await state.clear()
    patients = await followed_patients(db)
    if not patients:
        await message.answer(t("session_no_patients", actor.lang))
        return
    await state.set_state(Enroll.session_patient)
    text, markup = desk_page(
        patients, 0, PatientList.session, _session_button, "session_pick", actor.lang
    )
    await message.answer(text, reply_markup=markup)


def _session_button(patient_id: int) -> SessionPatientCb:
    return SessionPatientCb(patient_id=patient_id)


async def session_page(
    query: CallbackQuery, callback_data: PageCb, actor: Actor, db: AsyncSession
) -> None:
    """« Previous / Next » on /session's picker: every patient in follow-up is reachable."""
    patients = await followed_patients(db)
    text, markup = desk_page(
        patients,
        callback_data.page,
        PatientList.session,
        _session_button,
        "session_pick",
        actor.lang,
    )
    await turn_page(query, text, markup)


async def session_search(message: Message, actor: Actor, db: AsyncSession) -> None:
    """Part of a name typed at /session's picker: the patients whose name holds it."""
    typed = strip_control(message.text or "").strip()[:64]
    text, markup = desk_matches(await followed_patients(db), typed, _session_button, actor.lang)
    await message.answer(text, reply_markup=markup)


async def session_patient_chosen(
    query: CallbackQuery,
    callback_data: SessionPatientCb,
    actor: Actor,
    state: FSMContext,
    db: AsyncSession,
    settings: Settings,
) -> None:
    patient = await db.get(Patient, callback_data.patient_id)
    if patient is None or patient.status not in FOLLOWED:
        await query.answer(t("button_expired", actor.lang), show_alert=True)
        return
    name = patient.display_name or "—"
    assert patient.id is not None
    last = await latest_session(db, patient.id)
    await state.update_data(
        flow="session",
        patient_id=patient.id,
        patient_name=name,
        last_regions=list(last.regions) if last is not None else [],
    )
    await state.set_state(Enroll.time)
    await query.answer()
    if isinstance(query.message, Message):
        await close_with_choice(query.message, name)
        await query.message.answer(
            t("enroll_time", actor.lang, tz=settings.clinic_timezone.key),
            reply_markup=time_keyboard(actor.lang),
        )


async def got_baseline(
    query: CallbackQuery,
    callback_data: EnrollBaselineCb,
    staff: StaffMember,
    state: FSMContext,
    db: AsyncSession,
    settings: Settings,
    clock: Clock,
    protocol: Protocol,
    bot_username: str,
) -> None:
    if not 0 <= callback_data.value <= 10:
        await query.answer(t("button_expired", staff.language), show_alert=True)
        return
    data = await state.get_data()
    ended = datetime.fromisoformat(data["ended_at"])
    try:
        result = await enroll(
            db,
            staff=staff,
            display_name=data["name"],
            therapist_id=data["therapist_id"],
            session_ended_at=ended,
            regions=data["regions"],
            baseline_pain=callback_data.value,
            language="en",
            now=clock.now(),
            link_ttl=settings.invite_ttl,
            enroll_key=data.get("enroll_key"),
            leg_symptoms=bool(data.get("leg_symptoms", False)),
            screening=list(data.get("screening", [])),
            protocol=protocol,
        )
    except AlreadyEnrolled:  # another copy of this tap enrolled them: as a late tap
        await query.answer(t("button_expired", staff.language), show_alert=True)
        return
    except EnrollmentError as exc:
        await state.clear()
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(t("enroll_failed", staff.language, reason=str(exc)))
        return
    await state.clear()
    await query.answer()
    log.info("patient enrolled patient_id=%s by staff_id=%s", result.patient.id, staff.id)
    link = deep_link(bot_username, result.token)
    labels = {k: r.label.get(staff.language) for k, r in protocol.regions.items()}
    hours = round(settings.invite_ttl.total_seconds() / 3600)
    text = t(
        "enroll_done",
        staff.language,
        name=result.patient.display_name,
        therapist=data["therapist_name"],
        ended=_clock(settings, ended),
        regions=", ".join(labels.get(k, k) for k in data["regions"]),
        baseline=callback_data.value,
        hours=hours,
        link=link,
    )
    text += "\n" + screening_summary(result.patient, staff.language)
    if isinstance(query.message, Message):
        await close_with_choice(query.message, str(callback_data.value))
        await query.message.answer(text)
        await query.message.answer_photo(
            BufferedInputFile(qr_png(link), filename="join-qr.png"),
            caption=t(
                "enroll_qr_caption",
                staff.language,
                clinic=clinic_of(settings.clinic_name, staff.language),
            ),
        )


async def expected_button(message: Message, actor: Actor) -> None:
    """Text (or anything) where a button was expected: say so, change nothing."""
    await message.answer(t("use_buttons", actor.lang))


def make_router() -> Router:
    """A fresh router (one per dispatcher: aiogram routers attach to one parent)."""
    router = Router(name="enroll")
    router.message.filter(HasRole(Role.STAFF, Role.ADMIN))
    router.callback_query.filter(HasRole(Role.STAFF, Role.ADMIN))
    router.message.register(start_enroll, Command("enroll"))
    router.message.register(start_session, Command("session"))
    router.callback_query.register(
        session_patient_chosen, Enroll.session_patient, SessionPatientCb.filter()
    )
    router.callback_query.register(
        session_page, Enroll.session_patient, PageCb.filter(F.what == PatientList.session)
    )
    router.message.register(session_search, Enroll.session_patient, F.text, ~F.text.startswith("/"))
    router.message.register(got_name, Enroll.name, F.text, ~F.text.startswith("/"))
    router.message.register(name_not_text, Enroll.name)
    router.callback_query.register(got_therapist, Enroll.therapist, EnrollTherapistCb.filter())
    router.callback_query.register(got_time_button, Enroll.time, EnrollTimeCb.filter())
    router.message.register(got_time_text, Enroll.time, F.text)
    router.callback_query.register(toggle_region, Enroll.regions, EnrollRegionCb.filter())
    router.callback_query.register(regions_done, Enroll.regions, EnrollRegionsDoneCb.filter())
    router.callback_query.register(got_legs, Enroll.legs, EnrollLegsCb.filter())
    router.callback_query.register(
        toggle_screening, Enroll.screening, EnrollScreenCb.filter(F.action == ScreenAction.toggle)
    )
    router.callback_query.register(
        screening_done,
        Enroll.screening,
        EnrollScreenCb.filter(F.action.in_({ScreenAction.none, ScreenAction.done})),
    )
    router.callback_query.register(got_baseline, Enroll.baseline, EnrollBaselineCb.filter())
    router.message.register(
        expected_button,
        StateFilter(
            Enroll.session_patient,
            Enroll.therapist,
            Enroll.time,
            Enroll.regions,
            Enroll.legs,
            Enroll.screening,
            Enroll.baseline,
        ),
    )
    return router
