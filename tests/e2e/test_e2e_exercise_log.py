"""Issue 15 step 3: the daily reminder lists today's exercises of the patient's programme
with Done / Too painful per exercise and All done; a tap logs that exercise for the day
the reminder was for (idempotent; the next morning too); "Too painful" reaches the
therapist's digest, and twice in a week on the same exercise a SOON alert; /exercises
shows the programme with its instructions. Real dispatcher, strict fake Bot API."""

from __future__ import annotations

from datetime import timedelta

from store.models import Alert, ExerciseLog, OutboxMessage
from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.dbutil import rows, snapshot
from tests.support.e2e import THERAPIST, answered_callback, enrolled_patient
from tests.support.harness import ManualWall, Running

ALL_DONE = "✅ All done"


async def _next_reminder(bot: Running, wall: ManualWall, patient: SimUser) -> SentMessage:
    """Move time on to the next reminder that lists exercises (not a needling day's)."""
    for _ in range(100):
        mark = patient.mark()
        wall.advance(timedelta(hours=1))
        await bot.background.run_once()
        for message in patient.inbox:
            if message.seq > mark and ALL_DONE in str(message.buttons()):
                return message
    raise AssertionError("no exercise reminder with exercises")


async def _tap(fake: FakeBotAPI, patient: SimUser, message: SentMessage, button: str) -> str:
    query = await patient.tap(message, button)
    return str((await answered_callback(fake, patient, query)).get("text"))


def _current(patient: SimUser, message: SentMessage) -> SentMessage:
    found = patient.message(message.message_id)
    assert found is not None
    return found


async def test_logging_one_exercise_at_a_time_and_too_painful_twice(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    therapist = fake.user(THERAPIST)
    reminder = await _next_reminder(bot, wall, patient)
    [row] = [
        r
        for r in await rows(sqlite_url, OutboxMessage, OutboxMessage.kind == "exercise")
        if r.message_id == reminder.message_id
    ]
    day = row.due_at.astimezone(bot.app.settings.clinic_timezone).date()
    strength_day = day.weekday() in (0, 2, 4)
    listed = ["Piriformis stretch (figure-4)", "Hamstring stretch", "Kneeling hip flexor stretch"]
    if strength_day:
        listed += ["Clamshell", "Glute bridge"]
    assert reminder.text.splitlines()[2:] == [
        f"• {name}: {dose}"
        for name, dose in zip(
            listed,
            ["2 × 30 s each side, every day"] * 3
            + ["2 × 12 each side, 3 days a week", "2 × 10, 3 days a week"],
            strict=False,
        )
    ]
    assert reminder.buttons() == [
        *([f"◻️ {name}", "😣 Too painful"] for name in listed),
        [ALL_DONE],
        ["Remind me in 1 h", "Stop exercise reminders"],
    ]

    # two of them done, one tap each; a second tap logs nothing new
    assert await _tap(fake, patient, reminder, "◻️ Piriformis stretch (figure-4)") == (
        "Well done: logged ✓"
    )
    assert await _tap(fake, patient, reminder, "◻️ Hamstring stretch") == "Well done: logged ✓"
    await fake.wait_until(
        lambda: "✅ Hamstring stretch" in str(_current(patient, reminder).buttons())
    )
    shown = _current(patient, reminder)
    assert shown.buttons()[0] == ["✅ Piriformis stretch (figure-4)", "😣 Too painful"]
    before = await snapshot(sqlite_url)
    assert await _tap(fake, patient, shown, "✅ Hamstring stretch") == "Already logged ✓"
    assert (await snapshot(sqlite_url))["exercise_log"] == before["exercise_log"]

    # the next morning, a tap on yesterday's reminder counts for yesterday
    wall.advance(timedelta(hours=15))
    assert await _tap(fake, patient, shown, "◻️ Kneeling hip flexor stretch") == (
        "Well done: logged ✓"
    )
    logs = await rows(sqlite_url, ExerciseLog)
    assert {(log.exercise, log.day, log.kind) for log in logs} == {
        ("piriformis_stretch", day, "done"),
        ("hamstring_stretch", day, "done"),
        ("hip_flexor_stretch", day, "done"),
    }

    # too painful once: told in the digest (ROUTINE), no push
    mark_t = therapist.mark()
    toast = await _tap(fake, patient, _current(patient, reminder), "😣 Too painful")
    assert toast.startswith("Noted. Leave this exercise out for now")
    alerts = await rows(sqlite_url, Alert)
    assert [(a.tier, a.reason_key) for a in alerts] == [("routine", "exercise_painful")]
    assert alerts[0].reasons == [
        f"exercise too painful: Piriformis stretch (figure-4) ({day:%d/%m})"
    ]

    # the next day's reminder: too painful again on the same exercise → SOON, pushed (onto
    # the patient's open card if they have one: one card per patient, with a notice)
    second = await _next_reminder(bot, wall, patient)
    await _tap(fake, patient, second, "😣 Too painful")
    await bot.background.run_once()
    pushed = await therapist.wait_for(
        lambda m: "Piriformis stretch (figure-4)" in m.text and "2 days in 7" in m.text,
        after=mark_t,
    )
    assert not pushed.text.startswith("Daily digest")
    alerts = await rows(sqlite_url, Alert)
    soon = [a for a in alerts if "exercise_painful_repeated" in a.reason_keys]
    assert len(soon) == 1 and soon[0].tier == "soon"
    # the first routine line was told in the digest and closed; the second tap opened the
    # next one, listing the exercise on both days
    routine = [a for a in alerts if a.tier == "routine"]
    assert [(a.reason_key, a.state) for a in routine] == [
        ("exercise_painful", "closed"),
        ("exercise_painful", "open"),
    ]
    assert routine[1].reasons[0].startswith("exercise too painful: Piriformis stretch (figure-4) (")

    # the digest said so, the morning after the first "Too painful"
    digests = [m for m in therapist.inbox if m.text.startswith("Daily digest")]
    told = f"Home exercise too painful: Piriformis stretch (figure-4) ({day.day} {day:%b})"
    assert any(told in m.text for m in digests)

    # /exercises: the programme with instructions, any time
    mark = patient.mark()
    await patient.send("/exercises")
    programme = await patient.wait_for(lambda m: "Your home programme" in m.text, after=mark)
    assert "Glute bridge: 2 × 10, 3 days a week\nLie on your back" in programme.text
    assert programme.text.endswith(
        "Stop any exercise for sharp or worsening pain, dizziness or chest symptoms."
    )
    assert fake.refused == []


async def test_a_forged_reminder_id_logs_nothing(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await enrolled_patient(fake)
    reminder = await _next_reminder(bot, wall, patient)
    k = reminder.button_data("◻️ Hamstring stretch").rsplit(":", 1)[1]
    before = await snapshot(sqlite_url)
    # a reminder id that does not exist, a row that is not this patient's reminder (the
    # first outbox row: a check-in), an action that does not exist
    for forged in (f"xl:d:99999:{k}", f"xl:d:1:{k}", f"xl:z:1:{k}"):
        query = await patient.tap_data(reminder.message_id, forged)
        answer = await answered_callback(fake, patient, query)
        assert answer.get("text") == "This button has expired."
    after = await snapshot(sqlite_url)
    assert after["exercise_log"] == before["exercise_log"] == []
    assert after["alert"] == before["alert"]
