"""Issue 15 step 6: what the therapist sees of the exercise logs. The patient card lists,
per exercise of the programme, the days logged done of the days planned over the last 7
and 28 days — planned as the reminder plans them (the strength ones on their weekdays,
none on a needling day, today only once logged) — in the therapist's language. Real
dispatcher, strict fake Bot API."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from care.charts import STRIP_COLORS, DayMark
from store.models import OutboxMessage, StaffMember
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
    await next_exercise_reminder(bot, wall, patient)  # today: not logged (yet)
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

    # the same card for a therapist who reads Spanish (the staff member's language)
    async with bot.app.sessions() as db:
        staff = (
            await db.exec(select(StaffMember).where(StaffMember.tg_user_id == THERAPIST))
        ).one()
        staff.language = "es"
        await db.commit()
    card = await open_card(therapist)
    lines = (card.caption or "").splitlines()
    at = lines.index("Ejercicios en casa, días hechos/previstos (7 d · 28 d):")
    assert lines[at + 1 : at + 6] == [
        "• Estiramiento del piriforme (en figura 4): 1/2 · 1/2",
        "• Estiramiento de isquiotibiales: 1/2 · 1/2",
        "• Estiramiento de flexores de cadera de rodillas: 0/2 · 0/2",
        f"• Almeja (clamshell): 0/{strength} · 0/{strength}",
        f"• Puente de glúteos: 0/{strength} · 0/{strength}",
    ]
