"""The safety net as a property: whatever a patient, the clinic and the clock do, no warning
sign is lost and no session check-in is dropped (DESIGN.md invariant 8; issue 10).

Hypothesis draws random sequences of what real life does — time passing at any pace,
new sessions, taps on any button of any message the patient ever received (late, twice,
after expiry, from a reminder's copy), restarts, pauses and resumes, photos and typed
words, a therapist acknowledging — and runs each one in-process against the real aiogram
dispatcher, the real background jobs on a hand-moved clock and the strict fake Bot API.
Everything is observed from the outside, as the patient and the therapist see it, plus
the database:

* every red-flag tap is answered at once with the emergency text, exactly once per
  answer (a second tap on the same question sends nothing more);
* after one dispatch pass the therapist has a new message about it (a card or a push
  pointing to one), and the answer is stored and is in exactly one alert;
* no check-in of a session is lost while the patient is active: each was sent, answered,
  superseded by a newer session, or fell inside a pause.

The clock moves the way a dispatcher on time would see it: it stops at every moment
something is due (a pending outbox row, an open check-in's expiry), so lateness comes only
from the events the test draws (a restart), never from the test's own coarse steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import col, select

from care.sessions import record_session
from scheduler.clock import Clock
from store.db import create_engine, session_factory
from store.models import (
    Alert,
    Answer,
    Checkin,
    NeedlingSession,
    OutboxMessage,
    OutboxState,
    StaffMember,
)
from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.dbutil import fresh_sqlite
from tests.support.harness import START, TOKEN, ManualWall, Running, running_bot
from tests.support.journey import enroll, invite, join_and_consent

THERAPIST, STAFF, PATIENT = 2000, 3000, 4000
GROUP = -100777
MADRID = ZoneInfo("Europe/Madrid")
SESSION_KEYS = ("h3", "h24", "h48", "h72")
EMERGENCY = "112"


# -- the events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Advance:
    minutes: int


@dataclass(frozen=True)
class UntilCourse:
    """Time passes until the next weekly or Sunday exercise question arrives (≤ 10 days)."""


@dataclass(frozen=True)
class TapRed:
    """Tap a red-flag answer on any message that still shows one."""

    pick: int


@dataclass(frozen=True)
class TapAny:
    """Tap any button on any message of the patient's that still shows buttons."""

    pick: int
    button: int


@dataclass(frozen=True)
class Calm:
    """Answer the newest open question calmly, `taps` times (a patient partway through),
    waiting for the next check-in when none is open."""

    taps: int


@dataclass(frozen=True)
class NewSession:
    minutes_ago: int


@dataclass(frozen=True)
class Restart:
    down_minutes: int


@dataclass(frozen=True)
class Pause:
    pass


@dataclass(frozen=True)
class Resume:
    pass


@dataclass(frozen=True)
class Photo:
    pass


@dataclass(frozen=True)
class Words:
    passed: bool


@dataclass(frozen=True)
class Acknowledge:
    pick: int


Event = (
    Advance
    | UntilCourse
    | TapRed
    | TapAny
    | Calm
    | NewSession
    | Restart
    | Pause
    | Resume
    | Photo
    | Words
    | Acknowledge
)

actions = st.one_of(
    st.just(UntilCourse()),
    st.builds(TapRed, st.integers(0, 50)),
    st.builds(TapRed, st.integers(0, 50)),
    st.builds(TapAny, st.integers(0, 50), st.integers(0, 20)),
    st.builds(Calm, st.integers(1, 4)),
    st.builds(Calm, st.integers(1, 4)),
    st.builds(NewSession, st.integers(0, 90)),
    st.builds(NewSession, st.integers(0, 90)),
    st.builds(Restart, st.integers(0, 120)),
    st.just(Pause()),
    st.just(Resume()),
    st.just(Photo()),
    st.builds(Words, st.booleans()),
    st.builds(Acknowledge, st.integers(0, 50)),
)
#: one step of life: some time passes (often minutes or hours, sometimes days), then one
#: thing happens — so taps come late as often as on time
steps = st.tuples(
    st.one_of(st.integers(0, 60 * 6), st.integers(60 * 6, 60 * 24 * 4)),
    actions,
)
events = st.lists(steps, min_size=3, max_size=12).map(
    lambda pairs: [event for minutes, action in pairs for event in (Advance(minutes), action)]
)


# -- what counts as a red flag, read off the button as the patient sees it ----------------


def _question_line(message: SentMessage) -> str:
    return message.text.rsplit("\n", 1)[-1].lower()


def emergency_texts(patient: SimUser, after: int) -> list[SentMessage]:
    return [
        m
        for m in patient.inbox
        if m.seq > after and EMERGENCY in m.text and "emergency" in m.text.lower()
    ]


# -- the world of one example -------------------------------------------------------------


@dataclass
class World:
    fake: FakeBotAPI
    url: str
    wall: ManualWall
    running: Running | None = None
    stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    red_answers: set[tuple[str, str]] = field(default_factory=set)
    pauses: list[tuple[datetime, datetime]] = field(default_factory=list)
    paused_since: datetime | None = None
    log: list[str] = field(default_factory=list)
    # every button the patient's phone ever showed: (message id, label) → (data, question)
    seen: dict[tuple[int, str], tuple[str, str]] = field(default_factory=dict)

    def remember(self) -> None:
        for message in self.patient.inbox:
            if not message.reply_markup or message.deleted:
                continue
            for row in message.buttons():
                for label in row:
                    data = message.button(label).get("callback_data")
                    if isinstance(data, str):
                        self.seen[(message.message_id, label)] = (data, _question_line(message))

    @property
    def patient(self) -> SimUser:
        return self.fake.user(PATIENT)

    @property
    def therapist(self) -> SimUser:
        return self.fake.user(THERAPIST)

    async def start(self) -> None:
        self.running = await self.stack.enter_async_context(
            running_bot(
                self.fake,
                self.url,
                clock=Clock(wall=self.wall),
                DISPATCH_INTERVAL_SECONDS="3600",
                ALERT_CHAT_ID=str(GROUP),
                # this fake does not hold the bot to Telegram's 1/s per chat (the rate-limit
                # tests do); at 1/s each dispatch pass waited out the pace in wall time
                SEND_RATE_PER_CHAT_PER_SECOND="50",
                handle_as_tasks=False,  # so `settled` knows when a tap has been handled
            )
        )

    async def stop(self) -> None:
        await self.stack.aclose()
        self.stack = contextlib.AsyncExitStack()
        self.running = None

    async def settled(self) -> None:
        """Wait until the bot has handled every update sent so far.

        The bot polls with ``handle_as_tasks=False``: it asks for the next updates
        (confirming these) only once it has handled them, so nothing pending means
        every reply a tap or message will get has been sent. A stale tap that only
        gets a toast is then known to be over at once, not after a timeout.
        """
        await self.fake.wait_until(lambda: not self.fake.updates.pending, timeout=30)

    async def run_once(self) -> None:
        assert self.running is not None
        await self.running.background.run_once()

    async def next_due(self) -> datetime | None:
        """The earliest moment something falls due: a pending row or an open check-in's end."""
        # the running bot's own sessions: a new engine per step cost more than the step
        assert self.running is not None
        async with self.running.app.sessions() as db:
            row = (
                await db.exec(
                    select(func.min(OutboxMessage.due_at)).where(
                        OutboxMessage.state == OutboxState.PENDING
                    )
                )
            ).first()
            expiry = (
                await db.exec(select(func.min(Checkin.expires_at)).where(Checkin.state == "open"))
            ).first()
            escalation = (
                await db.exec(
                    select(func.min(Alert.next_escalation_at)).where(Alert.state == "open")
                )
            ).first()
        times = [t for t in (row, expiry, escalation) if t is not None]
        return min(times) if times else None

    async def advance(self, minutes: int) -> None:
        target = self.wall.current + timedelta(minutes=minutes)
        for _ in range(400):
            await self.run_once()
            due = await self.next_due()
            step_to = target if due is None else min(target, max(due, self.wall.current))
            if step_to <= self.wall.current:
                step_to = self.wall.current + timedelta(seconds=1)
                if step_to > target:
                    break
            self.wall.current = step_to
            if step_to >= target:
                await self.run_once()
                break


def shown(patient: SimUser) -> list[SentMessage]:
    return [m for m in patient.inbox if m.reply_markup and m.buttons() and not m.deleted]


async def tap_and_settle(world: World, message: SentMessage, label: str) -> None:
    """Tap, then finish a multi-select question with Done if it has one."""
    patient = world.patient
    await patient.tap(message, label)
    await world.settled()
    current = patient.message(message.message_id)
    if current is not None and current.reply_markup:
        labels = [b for row in current.buttons() for b in row]
        done = [b for b in labels if b.lower().startswith("done")]
        if done and any(b.startswith(("☑", "✅")) for b in labels):
            await patient.tap(current, done[0])
            await world.settled()


def red_label(label: str, question: str) -> bool:
    """Whether this button reports a warning sign that needs the emergency text."""
    low = label.lower().lstrip("☐☑ ")  # a multi-select's box
    if "weakness" in low or low.startswith("fainted") or "bleeding" in low:
        return True
    return low == "yes" and ("genitals" in question or "chest" in question)


def stored_key(data: str) -> tuple[str, str] | None:
    """(check-in id, question) from callback data: the identity of an answer."""
    parts = data.split(":")
    if parts[0] == "m":  # a multi-select: m:<action>:<check-in>:<question>:<choice>
        parts = parts[1:]
    return (parts[1], parts[2]) if parts[0] == "a" or len(parts) >= 4 else None


async def red_tap(world: World, pick: int) -> None:
    """Tap a red flag on any message the patient ever received — what the phone shows
    now, or an old copy whose buttons the bot has since taken away (a phone that missed
    the edit still sends them)."""
    world.remember()
    candidates = sorted(
        (message_id, label, data)
        for (message_id, label), (data, question) in world.seen.items()
        if red_label(label, question)
    )
    if not candidates:
        return
    message_id, label, data = candidates[pick % len(candidates)]
    key = stored_key(data)
    first = key not in world.red_answers
    patient, therapist = world.patient, world.therapist
    p_mark, t_mark = patient.mark(), therapist.mark()
    world.log.append(f"red tap {label!r} on message {message_id} ({key}), first={first}")
    await tap_stale(world, message_id, data)
    if data.startswith("m:"):  # a multi-select: then Done, as the phone showed it
        done = [
            d for (mid, lab), (d, _) in world.seen.items() if mid == message_id and "Done" in lab
        ]
        if done:
            await tap_stale(world, message_id, done[0])
    got = emergency_texts(patient, p_mark)
    assert len(got) == (1 if first else 0), (
        f"red-flag tap {label!r} (first={first}) got {len(got)} emergency texts; "
        + " | ".join(world.log)
    )
    if not first:
        return
    assert key is not None
    world.red_answers.add(key)
    await world.run_once()  # one dispatch pass
    pushes = [m for m in therapist.inbox if m.seq > t_mark and m.edits == 0]
    assert pushes, f"therapist not told of red flag {label!r}; " + " | ".join(world.log)


async def tap_stale(world: World, message_id: int, data: str) -> None:
    await world.patient.tap_data(message_id, data)
    await world.settled()


async def any_tap(world: World, pick: int, button: int) -> None:
    messages = shown(world.patient)
    if not messages:
        return
    message = messages[pick % len(messages)]
    labels = [b for row in message.buttons() for b in row]
    label = labels[button % len(labels)]
    if red_label(label, _question_line(message)):
        return  # red taps are TapRed's, which checks what they must bring
    world.log.append(f"tap {label!r} on message {message.message_id}")
    with contextlib.suppress(TimeoutError, ValueError):
        await tap_and_settle(world, message, label)


COURSE_INTROS = ("your weekly",)


async def until_course(world: World) -> None:
    start = world.wall.current
    mark = world.patient.mark()
    while world.wall.current < start + timedelta(days=10):
        # straight to the next moment anything falls due (an hour at most), not hour by hour
        due = await world.next_due()
        step = timedelta(hours=1) if due is None else due - world.wall.current
        minutes = min(60, max(1, math.ceil(step.total_seconds() / 60)))
        await world.advance(minutes)
        if any(
            m.seq > mark and m.text.lower().startswith(COURSE_INTROS) for m in world.patient.inbox
        ):
            break
    world.log.append(f"until a course question: {start} → {world.wall.current}")


def calm_label(message: SentMessage) -> str | None:
    labels = [b for row in message.buttons() for b in row]
    for calm in ("0", "No", "Fine", "Nothing new", "3"):
        if calm in labels:
            return calm
    return None


async def calm_taps(world: World, taps: int) -> None:
    """Answer calmly; with nothing to answer, first wait (up to two days) for a question."""
    for _ in range(48):
        if any(calm_label(m) is not None for m in shown(world.patient)):
            break
        await world.advance(60)
    for _ in range(taps):
        messages = [m for m in shown(world.patient) if calm_label(m) is not None]
        if not messages:
            return
        message = max(messages, key=lambda m: m.seq)
        label = calm_label(message)
        assert label is not None
        world.log.append(f"calm {label!r} on message {message.message_id}")
        with contextlib.suppress(TimeoutError, ValueError):
            await tap_and_settle(world, message, label)


async def new_session(world: World, minutes_ago: int) -> None:
    engine = create_engine(world.url)
    async with session_factory(engine)() as db:
        staff = (await db.exec(select(StaffMember).where(StaffMember.tg_user_id == STAFF))).one()
        last = (
            await db.exec(select(NeedlingSession).order_by(col(NeedlingSession.ended_at).desc()))
        ).first()
        assert last is not None
        ended = max(
            world.wall.current - timedelta(minutes=minutes_ago), last.ended_at + timedelta(hours=1)
        )
        if ended > world.wall.current:
            await engine.dispose()
            return  # a session an hour after the last one is not a real clinic day
        await record_session(
            db,
            world.running.app.protocol,  # type: ignore[union-attr]
            staff=staff,
            patient_id=last.patient_id,
            ended_at=ended,
            regions=["thoracic"],
            default_tz=MADRID,
            now=world.wall.current,
        )
    await engine.dispose()
    world.log.append(f"session ended {ended}, recorded at {world.wall.current}")


async def say(world: World, what: str) -> None:
    patient = world.patient
    if what == "photo":
        await patient.send_photo()
    else:
        await patient.send(what)
    await world.settled()


async def run_event(world: World, event: Event) -> None:
    patient = world.patient
    if isinstance(event, Advance):
        world.log.append(f"advance {event.minutes} min from {world.wall.current}")
        await world.advance(event.minutes)
    elif isinstance(event, UntilCourse):
        await until_course(world)
    elif isinstance(event, TapRed):
        await red_tap(world, event.pick)
    elif isinstance(event, TapAny):
        await any_tap(world, event.pick, event.button)
    elif isinstance(event, Calm):
        await calm_taps(world, event.taps)
    elif isinstance(event, NewSession):
        await new_session(world, event.minutes_ago)
    elif isinstance(event, Restart):
        world.log.append(f"restart, down {event.down_minutes} min")
        await world.stop()
        world.wall.current += timedelta(minutes=event.down_minutes)
        await world.start()
    elif isinstance(event, Pause):
        mark = patient.mark()
        await patient.send("/pause")
        ask = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark, timeout=5)
        await patient.tap(ask, ask.buttons()[0][0])
        await world.settled()
        if world.paused_since is None:
            world.paused_since = world.wall.current
        world.log.append(f"pause at {world.wall.current}")
    elif isinstance(event, Resume):
        await say(world, "/resume")
        if world.paused_since is not None:
            world.pauses.append((world.paused_since, world.wall.current))
            world.paused_since = None
        world.log.append(f"resume at {world.wall.current}")
    elif isinstance(event, Photo):
        await say(world, "photo")
    elif isinstance(event, Words):
        mark = patient.mark()
        await say(world, "my leg feels odd since yesterday")
        if event.passed:
            offers = [m for m in patient.inbox if m.seq > mark and m.reply_markup and m.buttons()]
            if offers:
                with contextlib.suppress(ValueError):
                    await tap_and_settle(world, offers[-1], offers[-1].buttons()[0][0])
    elif isinstance(event, Acknowledge):
        therapist = world.therapist
        cards = [m for m in shown(therapist) if "Acknowledge" in str(m.buttons())]
        if cards:
            card = cards[event.pick % len(cards)]
            with contextlib.suppress(ValueError):
                await therapist.tap(card, "Acknowledge")
                await world.settled()


def _paused_during(world: World, start: datetime, end: datetime) -> bool:
    spans = [*world.pauses]
    if world.paused_since is not None:
        spans.append((world.paused_since, world.wall.current + timedelta(days=365)))
    # a pause lasts at least its chosen day, even if /resume came earlier
    return any(a <= end and start <= max(b, a + timedelta(days=1)) for a, b in spans)


async def check_final(world: World) -> None:
    engine = create_engine(world.url)
    async with session_factory(engine)() as db:
        checkins = list((await db.exec(select(Checkin))).all())
        answers = list((await db.exec(select(Answer))).all())
        alerts = list((await db.exec(select(Alert))).all())
    await engine.dispose()
    now = world.wall.current
    for checkin in checkins:
        if checkin.key not in SESSION_KEYS:
            continue
        if _paused_during(world, checkin.due_at, checkin.expires_at):
            continue
        reason = (checkin.reason or "").lower()
        never_sent = checkin.opened_at is None and checkin.chat_message_id is None
        lost = (checkin.state == "expired" and never_sent) or (
            checkin.state == "scheduled" and checkin.expires_at < now
        )
        if "supersed" in reason or "new session" in reason:
            lost = False
        assert not lost, (
            f"session check-in {checkin.key} due {checkin.due_at} lost: "
            f"{checkin.state} ({checkin.reason}); " + " | ".join(world.log)
        )
    stored = {(str(a.checkin_id), a.question_key) for a in answers}
    for key in world.red_answers:
        assert key in stored, f"red-flag answer {key} not stored; " + " | ".join(world.log)
    assert alerts or not world.red_answers


@asynccontextmanager
async def new_world(directory: Path) -> AsyncIterator[World]:
    fake = FakeBotAPI(token=TOKEN)
    await fake.start()
    try:
        async with fresh_sqlite(directory) as url:
            world = World(fake=fake, url=url, wall=ManualWall(START))
            await world.start()
            try:
                fake.group(GROUP, "Clinic alerts")
                await invite(fake, "Therapist", fake.user(THERAPIST, "Theo", last_name="Rapist"))
                await invite(fake, "Front-desk staff", fake.user(STAFF, "Sam"))
                token, _, _ = await enroll(fake, fake.user(STAFF))
                await join_and_consent(fake.user(PATIENT, "Zoe"), token)
                yield world
            finally:
                await world.stop()
    finally:
        await fake.stop()


async def scenario(sequence: list[Event]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        async with new_world(Path(directory)) as world:
            for event in sequence:
                await run_event(world, event)
            await world.advance(36 * 60)  # everything due by then has had its chance
            await check_final(world)


#: examples per run: 12 in `make test` (a few minutes); SAFETY_NET_EXAMPLES searches
#: deeper. Against the code before issue 10 the 6th example fails on a red flag tapped on a
#: closed check-in (item 1), and with that check set aside the 7th on a session check-in
#: lost behind a course one (item 3)
EXAMPLES = int(os.environ.get("SAFETY_NET_EXAMPLES", "12"))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(events)
def test_no_warning_sign_is_lost_and_no_session_checkin_dropped(sequence: list[Event]) -> None:
    asyncio.run(scenario(sequence))
