"""Issue 15 step 6: what the therapist sees of the exercise logs. The patient card lists,
per exercise of the programme, the days logged done of the days planned over the last 7
and 28 days — planned as the reminder plans them (the strength ones on their weekdays,
none on a needling day, today only once logged) — in the therapist's language. Real
dispatcher, strict fake Bot API."""

from __future__ import annotations

from datetime import timedelta

from care.charts import STRIP_COLORS, DayMark
from store.models import Alert, Checkin, OutboxMessage
from tests.fakebot import FakeBotAPI, SimUser
from tests.support.dbutil import rows
from tests.support.e2e import (
    THERAPIST,
    answered_callback,
    enrolled_patient,
    next_exercise_reminder,
    open_card,
)
from tests.support.harness import ManualWall, Running
from tests.support.pixels import pixels_of
from tests.support.samples import write_sample, write_sample_png

STRENGTH_DAYS = (0, 2, 4)  # the default protocol's Mon/Wed/Fri


async def _tap(fake: FakeBotAPI, patient: SimUser, message_id: int, button: str) -> str:
    message = patient.message(message_id)
    assert message is not None
    query = await patient.tap(message, button)
    return str((await answered_callback(fake, patient, query)).get("text"))


async def test_card_shows_done_of_planned_days_per_exercise_in_english_and_spanish(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    therapist = fake.user(THERAPIST)
    card = await open_card(therapist)
    assert "Home exercises: nothing logged yet" in (card.caption or "")

    first = await next_exercise_reminder(bot, wall, patient)
    for name in ("Piriformis stretch (figure-4)", "Hamstring stretch"):
        assert await _tap(fake, patient, first.message_id, f"◻️ {name}") == "Well done: logged ✓"
    await next_exercise_reminder(bot, wall, patient)  # the second day: nothing logged
    third = await next_exercise_reminder(bot, wall, patient)  # today: not logged (yet)
    reminders = await rows(sqlite_url, OutboxMessage, OutboxMessage.kind == "exercise")
    tz = bot.app.settings.clinic_timezone
    [one] = [r for r in reminders if r.message_id == first.message_id]
    day1 = one.due_at.astimezone(tz).date()
    strength = sum(1 for d in (day1, day1 + timedelta(days=1)) if d.weekday() in STRENGTH_DAYS)

    card = await open_card(therapist)
    lines = (card.caption or "").splitlines()
    at = lines.index("Home exercises, days done/planned (7 d · 28 d):")
    assert lines[at + 1 : at + 6] == [
        "• Piriformis stretch (figure-4): 1/2 · 1/2",
        "• Hamstring stretch: 1/2 · 1/2",
        "• Kneeling hip flexor stretch: 0/2 · 0/2",
        f"• Clamshell: 0/{strength} · 0/{strength}",
        f"• Glute bridge: 0/{strength} · 0/{strength}",
    ]
    assert lines[at + 6].startswith("Last ratings:")
    write_sample("patient-card-adherence.txt", card)
    # the chart's strip under the pain lines: a day logged (green), one planned and not
    # logged (red), the rest not planned; today's reminder, not logged yet, is not a miss
    assert card.photo is not None
    logged, missed = (
        pixels_of(card.photo, STRIP_COLORS[m]) for m in (DayMark.LOGGED, DayMark.MISSED)
    )
    assert logged > 0 and 0.8 < logged / missed < 1.25
    write_sample_png("patient-card-chart.png", card.photo)

    # the patient stops the reminders on the third day: the days after it had no reminder
    # and are not counted as missed; the third day's reminder went out, so it is
    assert await _tap(fake, patient, third.message_id, "Stop exercise reminders")
    wall.advance(timedelta(hours=48))
    await bot.background.run_once()
    days = [day1 + timedelta(days=n) for n in range(3)]
    strength = sum(1 for d in days if d.weekday() in STRENGTH_DAYS)
    card = await open_card(therapist)
    lines = (card.caption or "").splitlines()
    at = lines.index("Home exercises, days done/planned (7 d · 28 d):")
    assert lines[at + 1 : at + 6] == [
        "• Piriformis stretch (figure-4): 1/3 · 1/3",
        "• Hamstring stretch: 1/3 · 1/3",
        "• Kneeling hip flexor stretch: 0/3 · 0/3",
        f"• Clamshell: 0/{strength} · 0/{strength}",
        f"• Glute bridge: 0/{strength} · 0/{strength}",
    ]


ADHERENCE_INTRO = "Your weekly exercise check."


async def test_sunday_q9_is_not_asked_when_the_patient_logged_exercises_that_week(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """The weekly Q9 ("on how many days did you do your exercises?") only when nothing
    was logged: a patient who tapped Done this week gets no Sunday question (the check-in
    is skipped, its condition not met) — the logs say it already. Asked when nothing was
    logged: tests/e2e/test_e2e_scheduling.py::test_sunday_adherence_open_when_a_monday_
    session_is_recorded, and tests/flows/test_engine.py on both sides."""
    patient = await enrolled_patient(fake)
    first = await next_exercise_reminder(bot, wall, patient)
    assert await _tap(fake, patient, first.message_id, "✅ All done") == (
        "Well done: all of today's exercises logged ✓"
    )
    [sunday] = await rows(sqlite_url, Checkin, Checkin.key == "adherence")
    assert sunday.due_at.astimezone(bot.app.settings.clinic_timezone).weekday() == 6
    while bot.app.clock.now() < sunday.due_at + timedelta(hours=2):
        wall.advance(timedelta(hours=2))
        await bot.background.run_once()
    [closed] = await rows(sqlite_url, Checkin, Checkin.id == sunday.id)
    assert (closed.state, closed.reason) == ("skipped", "condition not met")
    assert not [m for m in patient.inbox if m.text.startswith(ADHERENCE_INTRO)]


async def test_low_adherence_in_the_digest_comes_from_the_logs(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """Two weeks running with exercises logged on one day each (of 7 planned, fewer than
    half): no Q9 is asked (the patient logs), and the low-adherence rule judges the logs —
    the therapist's digest says so after the second Sunday, with the days done per week."""
    patient = await enrolled_patient(fake)
    therapist = fake.user(THERAPIST)
    tz = bot.app.settings.clinic_timezone
    for _ in range(2):
        reminder = await next_exercise_reminder(bot, wall, patient)
        await _tap(fake, patient, reminder.message_id, "✅ All done")
        [sunday] = [
            c
            for c in await rows(sqlite_url, Checkin, Checkin.key == "adherence")
            if c.state == "scheduled"
        ]
        assert sunday.due_at.astimezone(tz).weekday() == 6
        while bot.app.clock.now() < sunday.due_at + timedelta(hours=1):
            wall.advance(timedelta(hours=2))
            await bot.background.run_once()
    assert [c.state for c in await rows(sqlite_url, Checkin, Checkin.key == "adherence")][:2] == [
        "skipped",
        "skipped",
    ]
    assert not [m for m in patient.inbox if m.text.startswith(ADHERENCE_INTRO)]
    [low] = [a for a in await rows(sqlite_url, Alert) if a.reason_key == "low_adherence"]
    assert low.tier == "routine"
    mark = therapist.mark()
    for _ in range(24):  # the next morning's digest
        wall.advance(timedelta(hours=1))
        await bot.background.run_once()
    digest = await therapist.wait_for(
        lambda m: m.text.startswith("Daily digest") and "fewer than" in m.text, after=mark
    )
    assert "Exercises done on fewer than 50% of the 7 planned days, 2 weeks running" in (
        digest.text
    )
    assert ": 1/7; week of " in digest.text and digest.text.count("/7") >= 2
