"""The aftercare protocol as frozen data.

Everything clinical — when check-ins go out, what they ask, which texts follow
an answer, the exercise cadence, the alert and progress thresholds — is in this
model, built from a TOML file by flows.loader. Code elsewhere reads it and never
hard-codes a clinical number, so a clinic changes its protocol by editing a
file that a clinician can read and sign off.

Times of day are naive `datetime.time` values meaning *local* clock time in the
clinic's time zone; the planner turns them into instants with zoneinfo.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from types import MappingProxyType
from typing import Literal

from flows.conditions import ALWAYS, Guard, ValueTest
from flows.opening import OpeningHours
from flows.text import Text

QuestionKind = Literal["scale", "choice", "multi", "yes_no", "count"]

#: Answer ranges are fixed per kind (not configurable) so that a stored int
#: means the same thing in every clinic's data.
SCALE_MAX = 10
COUNT_MAX = 7
#: A "multi" answer is a bitmask of choice indexes stored in an INTEGER column and
#: carried in callback data (bot.callbacks.Num ≤ 2**31 − 1): at most this many choices.
MULTI_MAX_CHOICES = 10

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class ProtocolInfo:
    """Identity of the protocol file: stored with every plan so data can be traced."""

    id: str
    version: str
    default_language: str
    languages: tuple[str, ...]
    max_questions_per_checkin: int
    max_activities: int


@dataclass(frozen=True)
class QuietHours:
    """Routine messages are not sent inside the open interval (start, end), local time.

    Open at both ends on purpose: "not after 21:00" (the 3 h check-in) and
    "quiet from 21:00" then agree that 21:00 itself may be used, and a message
    deferred to the end of quiet hours is sent at exactly 08:00.

    late_grace: a message *due* outside quiet hours that is reached late (a slow
    pass, a restart) is still sent up to this long after quiet hours began; the
    decision is made against its due time, not the moment it was reached
    (clinical.md, "Decisions on the edge cases": the 21:00 slot is never lost).
    """

    start: time
    end: time
    late_grace: timedelta = timedelta(hours=1)

    def contains(self, t: time) -> bool:
        if self.start < self.end:
            return self.start < t < self.end
        return t > self.start or t < self.end


@dataclass(frozen=True)
class Region:
    key: str
    label: Text
    tag: str


@dataclass(frozen=True)
class Choice:
    """One choice of a choice or multi question.

    exclusive (multi only): selecting it clears every other choice, and selecting
    any other clears it ("Nothing new").
    """

    key: str
    text: Text
    exclusive: bool = False


@dataclass(frozen=True)
class Question:
    """One question of the bank.

    key ("Q1") is stored with every answer and travels in callback data: it is
    stable and never renumbered. name ("needle_soreness") is the column name
    for exports. For a choice, the stored answer is the choice's index, so
    choices may be appended but never reordered or removed.
    multi: the patient may tap several choices, then "Done"; the stored answer
    is the bitmask of the chosen indexes (choice i is bit 1 << i; flows.answers),
    so one Answer row per question stays and a single choice i of an old
    "choice" row is 1 << i after migration 0005. counts_after_minutes (multi
    only): a selection left standing that long counts as the answer even if
    "Done" is never tapped (the sweep records it) — a red flag is never lost
    because the patient walked away.
    better: for scale/count, whether a higher or lower number is the better
    outcome (Q2 pain: lower; Q7 function, Q9 adherence: higher).
    per_activity: asked once per activity the patient chose (Q7), with the
    activity in the prompt's `{activity}` placeholder.
    """

    key: str
    name: str
    kind: QuestionKind
    prompt: Text
    choices: tuple[Choice, ...] = ()
    better: Literal["higher", "lower"] | None = None
    loinc: str | None = None
    per_activity: bool = False
    counts_after_minutes: float | None = None

    @property
    def max_value(self) -> int:
        if self.kind == "multi":
            return (1 << len(self.choices)) - 1
        if self.kind == "scale":
            return SCALE_MAX
        if self.kind == "count":
            return COUNT_MAX
        if self.kind == "yes_no":
            return 1
        return len(self.choices) - 1

    def choice_index(self, key: str) -> int:
        for index, choice in enumerate(self.choices):
            if choice.key == key:
                return index
        raise KeyError(f"question {self.key} has no choice {key!r}")


@dataclass(frozen=True)
class QuestionEntry:
    """A question as listed in a check-in, with its own condition.

    optional: the entry yields its place when the patient's list would exceed
    the protocol's maximum questions per check-in (see flows.engine).
    """

    question: str
    guard: Guard = ALWAYS
    optional: bool = False
    per_activity: bool = False


@dataclass(frozen=True)
class AfterSession:
    """Due `offset` after the end of the session, adjusted by local-time rules.

    Offsets are elapsed time (48 h is 48 h even across a DST change); the
    local-time rules work on the wall clock:
    - evening_from/evening_offset: a session ending at or after evening_from
      uses evening_offset instead (the 3 h check-in becomes T0 + 1.5 h).
    - not_after: never later than this local time on the session's local date;
      a later time is moved back to it, unless that is less than
      min_offset after the session — then the check-in is skipped.
    - window: moved into [start, end] on the local date it falls on (the 24 h
      check-in: the next morning, 09:00–11:00).
    """

    offset: timedelta
    evening_from: time | None = None
    evening_offset: timedelta | None = None
    not_after: time | None = None
    min_offset: timedelta = timedelta(0)
    window: tuple[time, time] | None = None


@dataclass(frozen=True)
class CourseWeekly:
    """Every `every_days` days from the course's first session, at local time `at`.

    With day_before_next_session, a week's check-in moves to the day before
    the next planned session when that falls in the same week, so the
    therapist sees fresh answers before the visit. min_days_between keeps two
    weekly check-ins from landing within a few days of each other when one
    was moved.
    """

    every_days: int
    at: time
    day_before_next_session: bool
    min_days_between: int


@dataclass(frozen=True)
class OnWeekday:
    """Every week on `weekday` (0 = Monday) at `at`, or at the patient's reminder time."""

    weekday: int
    at: time | None


@dataclass(frozen=True)
class OnDemand:
    """Never planned: opened when the patient asks for it (/symptom, "Report a new symptom").

    Bound to the patient's latest session (if any) and sent at once as the reply, so a
    warning sign never waits for the next planned check-in (issue 10)."""


Schedule = AfterSession | CourseWeekly | OnWeekday | OnDemand


@dataclass(frozen=True)
class Expiry:
    """When a check-in stops being useful: the earlier of the two rules given.

    after: this long after it was due. at_local: the first time this local
    clock time comes round after it was due ("same evening").
    """

    after: timedelta | None = None
    at_local: time | None = None


@dataclass(frozen=True)
class CheckinDef:
    """One check-in of the protocol.

    max_questions and max_activities are copied from [protocol] so that the
    engine can work from the check-in alone.
    """

    key: str
    intro: Text
    schedule: Schedule
    questions: tuple[QuestionEntry, ...]
    guard: Guard
    expiry: Expiry
    nudge_after: timedelta | None
    superseded_by_new_session: bool
    routine: bool
    max_questions: int
    max_activities: int

    @property
    def conditional(self) -> bool:
        """Whether sending depends on a condition evaluated at send time."""
        return bool(self.guard)

    @property
    def looks_at_recent_sessions(self) -> bool:
        """Whether a condition asks about sessions other than the check-in's own
        (`{ region = "TRUNK", within_hours = 72 }`): the context then needs them all."""
        guards = [self.guard, *(entry.guard for entry in self.questions)]
        return any(
            getattr(c, "within_hours", None) is not None
            for guard in guards
            for c in (*guard.any_of, *guard.all_of)
        )

    @property
    def looks_at_exercise_logs(self) -> bool:
        """Whether a condition asks what the patient logged this week
        (`{ patient = "logged_nothing_this_week" }`): the context then counts the logs."""
        guards = [self.guard, *(entry.guard for entry in self.questions)]
        return any(
            getattr(c, "fact", None) == "logged_nothing_this_week"
            for guard in guards
            for c in (*guard.any_of, *guard.all_of)
        )


@dataclass(frozen=True)
class AfterRule:
    """A text shown after an answer to `question` that passes `test`."""

    question: str
    test: ValueTest
    text: Text
    guard: Guard = ALWAYS


#: What an exercise's dosage counts: repetitions, seconds held, or minutes of movement.
DoseUnit = Literal["reps", "seconds", "minutes"]

#: The amount one "step up" or "step down" changes, unless the exercise sets its own.
DEFAULT_STEPS: Mapping[str, int] = MappingProxyType({"reps": 2, "seconds": 5, "minutes": 5})
#: The largest amount a dosage may name, per unit (the smallest is one step).
DOSE_MAX: Mapping[str, int] = MappingProxyType({"reps": 50, "seconds": 300, "minutes": 120})
SETS_MAX = 10
#: Strength exercises are listed on their days only; stretches and movement as their
#: `days` say (daily by default).
EXERCISE_CATEGORIES: tuple[str, ...] = ("stretch", "strength", "movement")


@dataclass(frozen=True)
class Dosage:
    """How much of an exercise: `sets` × `amount` `unit` (each side when `each_side`).

    `step` is what one tap of "dose up"/"dose down" adds or takes away from `amount`;
    how many days a week comes from the exercise's `days`."""

    sets: int
    amount: int
    unit: DoseUnit
    each_side: bool = False
    step: int = 2


@dataclass(frozen=True)
class Exercise:
    """One exercise of the library: its category decides which days a reminder lists it
    (strength on its `days`, the rest daily by default), `next` is its progression."""

    key: str
    category: Literal["stretch", "strength", "movement"]
    name: Text
    instructions: Text
    dosage: Dosage
    days: tuple[int, ...]
    next: str | None = None


@dataclass(frozen=True)
class ExercisePlan:
    """The reminder cadence: daily for `daily_weeks` weeks, then on `later_days`.

    needling_day: the text of a needling day's reminder (walking and gentle
    movement only). picks_min/picks_max: how many exercises a therapist picks.
    default_programme: the exercises a patient starts with at enrollment.
    painful_*: "Too painful" on the same exercise on painful_soon_days days within
    painful_window_days days is SOON; once is told in the digest (ROUTINE).
    """

    reminder_time: time
    daily_weeks: int
    later_days: tuple[int, ...]
    picks_min: int
    picks_max: int
    reminder: Text
    needling_day: Text
    default_programme: tuple[str, ...] = ()
    painful_window_days: int = 7
    painful_soon_days: int = 2


@dataclass(frozen=True)
class TriageThresholds:
    """Numbers of clinical.md's alert tiers; the rules using them live in flows.triage.

    trunk_window_hours: Q5 = Yes is URGENT within this many hours of *any* TRUNK
    session (not only the check-in's own). soon_q1_48h_alone: Q1 at the 48 h
    check-in at or above this is SOON whatever the 24 h answer was, or with none.
    numbness_hours: new numbness is SOON when reported at a check-in planned at
    least this long after the session, or answered that long after it.
    fever_site_within_days: fever (Q4) with spreading redness or with swelling/pus
    (Q3) is URGENT when both are reported for the same session within this many
    days of each other — the two are often asked in different check-ins.
    """

    urgent_callback_min: int
    callback_within_hours: float
    trunk_window_hours: float
    soon_q1_24h: int
    soon_q1_48h: int
    soon_q1_48h_alone: int
    soon_q1_72h: int
    baseline_rise: int
    baseline_rise_min_hours: float
    numbness_hours: float
    fever_site_within_days: float
    missed_checkins_window_hours: float
    missed_consecutive: int
    adherence_fraction: float
    adherence_weeks: int


#: Mon–Fri 08:00–20:00, the default protocol's opening hours.
WEEKDAY_OPENING = OpeningHours((0, 1, 2, 3, 4), time(8, 0), time(20, 0))


@dataclass(frozen=True)
class AlertRules:
    """How alerts keep their promise (clinical.md, "Alerts keep their promise").

    urgent_repeat_hours: after the last ESCALATION_MINUTES step, an unacknowledged URGENT
    alert goes again to every therapist and admin this often. new_alert_after_days: a
    finding more than this long after the patient's open alert was raised opens a new
    alert (a new push) instead of updating the old card. opening_hours: when the clinic
    reads alerts — callbacks are due within [triage] callback_within_hours of it, and
    unacknowledged alerts are re-sent at its start.
    """

    urgent_repeat_hours: float = 4
    new_alert_after_days: float = 3
    opening_hours: OpeningHours = WEEKDAY_OPENING


@dataclass(frozen=True)
class ProgressThresholds:
    """Numbers of clinical.md's progress rules (responder, stall, re-evaluate, plateau, recovered).

    adherence_unreported_weeks: this many weekly adherence questions (Q9) in a row closed
    without an answer raise ROUTINE "adherence not reported".

    stall_q8_min: the Q8 choice key at or above which global change counts as
    improvement for the stall rule ("much better" or better).
    """

    progress_min_hours_after_session: float
    responder_drop: int
    responder_fraction: float
    stall_session: int
    stall_week: int
    stall_q7_gain: int
    stall_q8_min: str
    reevaluate_sessions: int
    reevaluate_weeks: int
    reevaluate_rise: int
    reevaluate_consecutive: int
    plateau_readings: int
    plateau_move: int
    plateau_floor: int
    recovered_max: int
    adherence_unreported_weeks: int = 2


#: Safety texts the bot must show (clinical.md, "What the bot must tell patients").
#: 1 not_emergency, 2 no_diagnosis, 3 what_is_normal, 4 emergency_signs,
#: 5 same_day_signs, 6 alerts_and_data, 7 exercise_safety; plus what the patient
#: sees with an URGENT, URGENT-callback and SOON reply, and the reply to free text.
SAFETY_KEYS: tuple[str, ...] = (
    "not_emergency",
    "no_diagnosis",
    "what_is_normal",
    "emergency_signs",
    "same_day_signs",
    "alerts_and_data",
    "exercise_safety",
    "urgent_now",
    "callback",
    "soon",
    "free_text",
)

#: Advice texts every protocol must have; a clinic may add its own for [[after]] rules.
REQUIRED_ADVICE: tuple[str, ...] = ("aftercare",)

#: What the patient is told once after every session (clinical.md, "What the patient is
#: told"), in this order; an advice key a clinic's file lacks is left out.
SESSION_ADVICE: tuple[str, ...] = ("aftercare", "sitting_breaks", "return_to_training")

#: Items 2–7 of "What the bot must tell patients": the welcome after consent and /help
#: (item 1, not an emergency service, is the safety line they also carry).
PROMISE_SAFETY: tuple[str, ...] = (
    "no_diagnosis",
    "what_is_normal",
    "emergency_signs",
    "same_day_signs",
    "alerts_and_data",
    "exercise_safety",
)

#: Advice with the promises: what a course looks like (sessions to expect, review point).
PROMISE_ADVICE: tuple[str, ...] = ("course_plan",)


@dataclass(frozen=True)
class Protocol:
    """The whole protocol. Mappings keep the file's order and are read-only."""

    info: ProtocolInfo
    quiet_hours: QuietHours
    yes: Text
    no: Text
    regions: Mapping[str, Region]
    questions: Mapping[str, Question]
    checkins: Mapping[str, CheckinDef]
    after: tuple[AfterRule, ...]
    exercises: Mapping[str, Exercise]
    exercise_plan: ExercisePlan
    triage: TriageThresholds
    progress: ProgressThresholds
    safety: Mapping[str, Text]
    advice: Mapping[str, Text]
    source: str
    alerts: AlertRules = AlertRules()

    @property
    def default_language(self) -> str:
        return self.info.default_language

    def question(self, key: str) -> Question:
        """The bank question of a key or a per-activity ref key ("Q7.2" → Q7)."""
        return self.questions[key.split(".", 1)[0]]

    def checkin(self, key: str) -> CheckinDef:
        return self.checkins[key]

    def session_checkins(self) -> tuple[CheckinDef, ...]:
        """The check-ins planned from a session's end, in file order."""
        return tuple(c for c in self.checkins.values() if isinstance(c.schedule, AfterSession))

    def checkins_of(
        self, kind: type[CourseWeekly] | type[OnWeekday] | type[OnDemand]
    ) -> tuple[CheckinDef, ...]:
        return tuple(c for c in self.checkins.values() if isinstance(c.schedule, kind))

    def on_demand_checkin(self) -> CheckinDef | None:
        """The check-in the patient opens themself (/symptom), if the protocol has one."""
        found = self.checkins_of(OnDemand)
        return found[0] if found else None

    def region_tags(self, region_keys: Iterable[str]) -> frozenset[str]:
        """The tags of the needled regions (unknown keys raise KeyError)."""
        return frozenset(self.regions[key].tag for key in region_keys)

    def patient_texts(self) -> list[Text]:
        """Every text a patient can see (for translation audits and tests)."""
        texts: list[Text] = [self.yes, self.no]
        texts += [r.label for r in self.regions.values()]
        for q in self.questions.values():
            texts.append(q.prompt)
            texts += [c.text for c in q.choices]
        texts += [c.intro for c in self.checkins.values()]
        texts += [rule.text for rule in self.after]
        for ex in self.exercises.values():
            texts += [ex.name, ex.instructions]
        texts += [self.exercise_plan.reminder, self.exercise_plan.needling_day]
        texts += list(self.safety.values())
        texts += list(self.advice.values())
        return texts
