"""What a therapist sees of a patient: recent ratings, the chart's series, adherence."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care.charts import ChartPoint, DayMark
from care.context import patient_tz, sessions_of
from care.programme import programme_of
from flows.exercises import exercises_for_day
from flows.planner import is_exercise_day
from flows.protocol import Exercise, Protocol
from store.models import (
    Alert,
    AlertState,
    Answer,
    Checkin,
    CheckinState,
    ExerciseLog,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    Patient,
    PatientStatus,
    Role,
    StaffMember,
)


def may_see_patient(staff: StaffMember, patient: Patient) -> bool:
    """A therapist sees their own patients, an admin all: the one rule for a patient's
    card, chart, answers and export, in the chat and in the desk."""
    return staff.active and (staff.role == Role.ADMIN or patient.therapist_id == staff.id)


@dataclass(frozen=True)
class Rating:
    at: datetime
    checkin_key: str
    question_key: str
    value: int


async def recent_ratings(
    db: AsyncSession, patient_id: int, *, keys: tuple[str, ...] = ("Q1", "Q2"), limit: int = 6
) -> list[Rating]:
    """The newest pain and soreness ratings, newest first."""
    rows = await db.exec(
        select(Answer, Checkin.key)
        .join(Checkin, col(Checkin.id) == col(Answer.checkin_id))
        .where(Answer.patient_id == patient_id, col(Answer.question_key).in_(keys))
        .order_by(col(Answer.answered_at).desc(), col(Answer.id).desc())
        .limit(limit)
    )
    return [Rating(a.answered_at, key, a.question_key, a.value) for a, key in rows.all()]


async def chart_series(
    db: AsyncSession, patient_id: int
) -> tuple[list[ChartPoint], list[ChartPoint], list[datetime]]:
    """Usual pain (Q2), soreness (Q1) and the session times, oldest first."""
    rows = await db.exec(
        select(Answer)
        .where(Answer.patient_id == patient_id, col(Answer.question_key).in_(["Q1", "Q2"]))
        .order_by(col(Answer.answered_at))
    )
    usual: list[ChartPoint] = []
    soreness: list[ChartPoint] = []
    for answer in rows.all():
        point = ChartPoint(at=answer.answered_at, value=answer.value)
        (usual if answer.question_key == "Q2" else soreness).append(point)
    sessions = [s.ended_at for s in await sessions_of(db, patient_id)]
    return usual, soreness, sessions


#: the states of a check-in that reached the patient (answered, let lapse, or still open)
SENT_CHECKIN_STATES = (CheckinState.DONE, CheckinState.EXPIRED, CheckinState.OPEN)


async def checkin_response(db: AsyncSession, patient_id: int) -> tuple[int, int]:
    """(answered, sent) check-ins: the patient's response rate."""
    rows = await db.exec(
        select(Checkin.state).where(
            Checkin.patient_id == patient_id,
            col(Checkin.state).in_(SENT_CHECKIN_STATES),
        )
    )
    states = list(rows.all())
    return sum(1 for s in states if s == CheckinState.DONE), len(states)


async def adherence_days(db: AsyncSession, patient_id: int) -> list[int]:
    """Days of exercise reported each week (Q9), oldest first."""
    rows = await db.exec(
        select(Answer.value)
        .where(Answer.patient_id == patient_id, Answer.question_key == "Q9")
        .order_by(col(Answer.answered_at))
    )
    return list(rows.all())


async def therapist_patients(
    db: AsyncSession,
    therapist_id: int | None,
    *,
    offset: int,
    limit: int,
    statuses: tuple[str, ...] = (PatientStatus.ACTIVE, PatientStatus.PAUSED),
) -> tuple[list[Patient], int]:
    """Patients of one therapist (None: all, for admins) in `statuses` (default: in
    follow-up), newest first."""
    query = select(Patient).where(col(Patient.status).in_(list(statuses)))
    if therapist_id is not None:
        query = query.where(Patient.therapist_id == therapist_id)
    everyone = list((await db.exec(query.order_by(col(Patient.id).desc()))).all())
    return everyone[offset : offset + limit], len(everyone)


async def open_alert_count(db: AsyncSession, patient_id: int) -> int:
    rows = await db.exec(
        select(Alert.id).where(Alert.patient_id == patient_id, Alert.state == AlertState.OPEN)
    )
    return len(list(rows.all()))


async def next_checkin_at(db: AsyncSession, patient_id: int) -> datetime | None:
    """When the patient's next scheduled check-in falls due (None: nothing planned)."""
    rows = await db.exec(
        select(Checkin.due_at)
        .where(Checkin.patient_id == patient_id, Checkin.state == CheckinState.SCHEDULED)
        .order_by(col(Checkin.due_at))
        .limit(1)
    )
    return rows.first()


async def answers_of(db: AsyncSession, patient_id: int, *, limit: int = 200) -> list[Rating]:
    """Every answer of the patient (any question), newest first."""
    rows = await db.exec(
        select(Answer, Checkin.key)
        .join(Checkin, col(Checkin.id) == col(Answer.checkin_id))
        .where(Answer.patient_id == patient_id)
        .order_by(col(Answer.answered_at).desc(), col(Answer.id).desc())
        .limit(limit)
    )
    return [Rating(a.answered_at, key, a.question_key, a.value) for a, key in rows.all()]


async def patient_names(db: AsyncSession, ids: set[int]) -> dict[int, str | None]:
    """Display names by patient id (None for an erased patient), in one query."""
    if not ids:
        return {}
    rows = await db.exec(select(Patient.id, Patient.display_name).where(col(Patient.id).in_(ids)))
    return {pid: name for pid, name in rows.all() if pid is not None}


# -- adherence from the logs (issue 15 step 6) -------------------------------------------

#: the card's two windows, in days ending today
ADHERENCE_WINDOWS = (7, 28)
DONE = "done"


@dataclass(frozen=True)
class ExerciseAdherence:
    """Done / planned days of one exercise of the programme, per window (ADHERENCE_WINDOWS)."""

    exercise: Exercise
    done: tuple[int, ...]
    planned: tuple[int, ...]


@dataclass(frozen=True)
class Adherence:
    per_exercise: list[ExerciseAdherence]
    days: list[tuple[date, DayMark]]  # the longest window from the course's start, oldest first
    logged_any: bool  # the patient ever logged an exercise


def planned_days(
    protocol: Protocol,
    keys: Sequence[str],
    days: Iterable[date],
    *,
    course_start: date | None,
    needling_days: frozenset[date],
) -> dict[date, tuple[str, ...]]:
    """The exercises each day's reminder listed (or will list): what the reminder picks
    (flows.exercises.exercises_for_day: strength ones on their weekdays, none on a needling
    day) on the days a reminder goes out (flows.planner.is_exercise_day), none before the
    course's first session."""
    planned: dict[date, tuple[str, ...]] = {}
    for day in days:
        if course_start is None or not is_exercise_day(
            protocol, course_start=course_start, day=day
        ):
            planned[day] = ()
            continue
        listed = exercises_for_day(protocol, keys, day, needling_day=day in needling_days)
        planned[day] = tuple(e.key for e in listed)
    return planned


async def done_days(
    db: AsyncSession, patient_id: int, since: date, until: date
) -> dict[str, set[date]]:
    """exercise → the days (since..until) it was logged done."""
    rows = await db.exec(
        select(col(ExerciseLog.exercise), col(ExerciseLog.day)).where(
            ExerciseLog.patient_id == patient_id,
            ExerciseLog.kind == DONE,
            col(ExerciseLog.day) >= since,
            col(ExerciseLog.day) <= until,
        )
    )
    done: dict[str, set[date]] = {}
    for exercise, day in rows.all():
        done.setdefault(exercise, set()).add(day)
    return done


async def reminder_days(
    db: AsyncSession, patient_id: int, tz: ZoneInfo, *, since: date
) -> set[date]:
    """The local days an exercise reminder was sent to the patient: none while reminders
    were stopped or the follow-up paused or ended, so those days are not counted missed."""
    rows = await db.exec(
        select(col(OutboxMessage.due_at)).where(
            OutboxMessage.patient_id == patient_id,
            OutboxMessage.kind == OutboxKind.EXERCISE,
            OutboxMessage.state == OutboxState.SENT,
            col(OutboxMessage.due_at) >= datetime.combine(since, time(0), tzinfo=tz),
        )
    )
    return {due.astimezone(tz).date() for due in rows.all()}


async def exercise_adherence(
    db: AsyncSession, protocol: Protocol, patient: Patient, *, now: datetime, default_tz: ZoneInfo
) -> Adherence:
    """Per exercise of the current programme, the days it was logged done of the days it
    was planned, over the last 7 and 28 days (today included); and the strip's days.

    Only the days a reminder went out count (stopped reminders, a pause or the end of the
    follow-up plan nothing), and today only once logged: a morning card does not show
    today's exercises as missed before the patient had the chance."""
    assert patient.id is not None
    tz = patient_tz(patient, default_tz)
    today = now.astimezone(tz).date()
    longest = max(ADHERENCE_WINDOWS)
    days = [today - timedelta(days=n) for n in range(longest - 1, -1, -1)]
    sessions = await sessions_of(db, patient.id)
    start = sessions[0].ended_at.astimezone(tz).date() if sessions else None
    needling = frozenset(s.ended_at.astimezone(tz).date() for s in sessions)
    programme = await programme_of(db, protocol, patient.id)
    keys = [entry.exercise.key for entry in programme]
    plan = planned_days(protocol, keys, days, course_start=start, needling_days=needling)
    done = await done_days(db, patient.id, days[0], today)
    reminded = await reminder_days(db, patient.id, tz, since=days[0])
    for day in plan:  # only the days a reminder went out; today: planned once logged
        if day not in reminded:
            plan[day] = ()
        elif day == today:
            plan[day] = tuple(k for k in plan[day] if day in done.get(k, set()))
    per_exercise = []
    for entry in programme:
        key = entry.exercise.key
        counts_done, counts_planned = [], []
        for window in ADHERENCE_WINDOWS:
            span = [d for d in days[-window:] if key in plan[d]]
            counts_planned.append(len(span))
            counts_done.append(sum(1 for d in span if d in done.get(key, set())))
        per_exercise.append(
            ExerciseAdherence(entry.exercise, tuple(counts_done), tuple(counts_planned))
        )
    logged = set().union(*done.values()) if done else set()
    marks = [  # from the course's first day: the chart does not stretch back before it
        (d, DayMark.LOGGED if d in logged else DayMark.MISSED if plan[d] else DayMark.REST)
        for d in days
        if start is not None and d >= start
    ]
    ever = (
        await db.exec(select(ExerciseLog.id).where(ExerciseLog.patient_id == patient.id).limit(1))
    ).first() is not None
    return Adherence(per_exercise, marks, ever)
