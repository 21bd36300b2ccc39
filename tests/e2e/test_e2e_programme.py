"""Issue 15: the therapist prescribes a home programme from the patient card, in Telegram,
through the real dispatcher against the strict fake; the patient gets one message per
change with the new instructions; forged and stale taps change nothing.

Taps counted from the patient card (the card itself is /patient + the name: 2 taps):
dose one step = 2 (Programme, + or −); typed dose = 3 and the typed value (Programme,
exercise, Type a dosage); progress = 3 (Programme, exercise, Progress); remove = 3
(Programme, exercise, Remove); add = 4 (Programme, Add, category, exercise)."""

from __future__ import annotations

from store.models import AuditEvent, ProgrammeItem
from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.dbutil import rows, snapshot
from tests.support.e2e import STAFF, THERAPIST, answered_callback, enrolled_patient
from tests.support.harness import ManualWall, Running
from tests.support.journey import invite


def _data(message: SentMessage, *, row: int, col: int) -> str:
    """The callback data of a button by place (several rows have a "+")."""
    assert message.reply_markup is not None
    return str(message.reply_markup["inline_keyboard"][row][col]["callback_data"])


async def _card(therapist: SimUser) -> SentMessage:
    mark = therapist.mark()
    await therapist.send("/patient")
    pick = await therapist.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = therapist.mark()
    await therapist.tap(pick, pick.buttons()[0][0])
    return await therapist.wait_for(lambda m: m.photo is not None, after=mark)


async def _tap(
    fake: FakeBotAPI, person: SimUser, message: SentMessage, button: str
) -> tuple[SentMessage, str]:
    """Tap a button of a programme view; returns the view as it is after the tap (edited
    in place, or the new message) and the toast."""
    mark = person.mark()
    query = await person.tap(message, button)
    answer = await answered_callback(fake, person, query)
    shown = await person.wait_for(lambda m: m.reply_markup is not None, after=mark)
    return shown, str(answer.get("text") or "")


async def _joined(bot: Running, fake: FakeBotAPI) -> SimUser:
    """An enrolled patient who has agreed, and has had session 1's aftercare message (sent
    after consent), so it is not counted as a programme message below."""
    patient = await enrolled_patient(fake)
    await bot.background.run_once()
    await patient.wait_for(lambda m: m.text.startswith("After your session 1"))
    return patient


async def _patient_hears(bot: Running, patient: SimUser, mark: int) -> list[SentMessage]:
    await bot.background.run_once()
    await patient.wait_for(lambda m: "Your therapist" in m.text, after=mark)
    return [m for m in patient.inbox if m.seq > mark]


async def test_therapist_prescribes_and_the_patient_hears_each_change_once(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    patient = await _joined(bot, fake)
    therapist = fake.user(THERAPIST)
    card = await _card(therapist)
    assert card.buttons() == [["🏋 Programme"]]

    # 1 tap: the programme the front desk left at enrollment (the protocol's default)
    mark = therapist.mark()
    await therapist.tap(card, "🏋 Programme")
    view = await therapist.wait_for(lambda m: "Home programme" in m.text, after=mark)
    assert view.text.splitlines()[1:6] == [
        "1. Piriformis stretch (figure-4): 2 × 30 s each side, every day",
        "2. Hamstring stretch: 2 × 30 s each side, every day",
        "3. Kneeling hip flexor stretch: 2 × 30 s each side, every day",
        "4. Clamshell: 2 × 12 each side, 3 days a week",
        "5. Glute bridge: 2 × 10, 3 days a week",
    ]
    assert view.buttons()[4] == ["Glute bridge", "−", "+"]
    assert "➕ Add an exercise" not in str(view.buttons())  # five: the maximum

    # 2 taps: the bridge's dose one step up; the patient gets one message
    stale_plus = _data(view, row=4, col=2)
    mark_p = patient.mark()
    mark = therapist.mark()
    query = await therapist.tap_data(view.message_id, stale_plus)
    toast = str((await answered_callback(fake, therapist, query)).get("text"))
    view = await therapist.wait_for(lambda m: m.message_id == view.message_id, after=mark)
    assert toast.startswith("Done ✓ — the patient gets one message")
    assert "5. Glute bridge: 2 × 12, 3 days a week" in view.text
    heard = await _patient_hears(bot, patient, mark_p)
    assert len(heard) == 1
    assert heard[0].text.startswith(
        "Your therapist changed how much to do of an exercise:\n\n"
        "Glute bridge: 2 × 12, 3 days a week\n"
        "Lie on your back, knees bent, feet flat and hip-width apart."
    )
    assert heard[0].text.endswith("Your whole programme is in /exercises.")
    assert "<b>Glute bridge</b>" in heard[0].html

    # the same "+" again (a double tap, or a stale copy): nothing changes, no message
    before = await snapshot(sqlite_url)
    mark_p = patient.mark()
    query = await therapist.tap_data(view.message_id, stale_plus)
    answer = await answered_callback(fake, therapist, query)
    assert str(answer.get("text")).startswith("This button has expired")
    await bot.background.run_once()
    assert [m for m in patient.inbox if m.seq > mark_p] == []
    after = await snapshot(sqlite_url)
    assert after["programme_item"] == before["programme_item"]

    # 3 taps: remove the hip flexor stretch
    item, _ = await _tap(fake, therapist, view, "Kneeling hip flexor stretch")
    assert "Kneel on one knee on a cushion" in item.text
    assert item.buttons() == [["✏️ Type a dosage"], ["🗑 Remove"], ["« Programme"]]
    mark_p = patient.mark()
    view, toast = await _tap(fake, therapist, item, "🗑 Remove")
    assert "Kneeling hip flexor stretch" not in view.text
    heard = await _patient_hears(bot, patient, mark_p)
    assert [m.text for m in heard] == [
        "Your therapist took Kneeling hip flexor stretch off your home programme: you need "
        "not do it any more."
    ]

    # 4 taps: add the wall press from the library, by category
    cats, _ = await _tap(fake, therapist, view, "➕ Add an exercise")
    assert cats.buttons() == [["Stretches", "Strength", "Movement"], ["« Programme"]]
    strength, _ = await _tap(fake, therapist, cats, "Strength")
    assert ["Clamshell"] not in strength.buttons()  # in the programme already
    mark_p = patient.mark()
    view, _ = await _tap(fake, therapist, strength, "Wall press (standing)")
    assert "5. Wall press (standing): 5 × 10 s each side, 3 days a week" in view.text
    heard = await _patient_hears(bot, patient, mark_p)
    assert len(heard) == 1 and heard[0].text.startswith(
        "Your therapist added an exercise to your home programme:\n\n"
        "Wall press (standing): 5 × 10 s each side, 3 days a week\n"
        "Stand side-on to a wall"
    )

    # 3 taps: progress the bridge to its next step
    item, _ = await _tap(fake, therapist, view, "Glute bridge")
    mark_p = patient.mark()
    view, _ = await _tap(fake, therapist, item, "⏭ Progress to Single-leg bridge")
    assert "4. Single-leg bridge: 2 × 10 each side, 3 days a week" in view.text
    heard = await _patient_hears(bot, patient, mark_p)
    assert len(heard) == 1 and heard[0].text.startswith(
        "Your therapist moved you on from Glute bridge to its next step:\n\n"
        "Single-leg bridge: 2 × 10 each side, 3 days a week\n"
    )

    # 3 taps and a typed value: the wall press at 3 × 15 s; words first are refused
    item, _ = await _tap(fake, therapist, view, "Wall press (standing)")
    mark = therapist.mark()
    await therapist.tap(item, "✏️ Type a dosage")
    await therapist.wait_for(lambda m: "Type the new dosage" in m.text, after=mark)
    before = await snapshot(sqlite_url)
    mark = therapist.mark()
    await therapist.send("a bit more")
    refused = await therapist.wait_for(after=mark)
    assert refused.text.startswith("I could not read that as a dosage for Wall press")
    assert (await snapshot(sqlite_url))["programme_item"] == before["programme_item"]
    mark, mark_p = therapist.mark(), patient.mark()
    await therapist.send("3x15")
    done = await therapist.wait_for(lambda m: "Home programme" in m.text, after=mark)
    assert "5. Wall press (standing): 3 × 15 s each side, 3 days a week" in done.text
    heard = await _patient_hears(bot, patient, mark_p)
    assert len(heard) == 1 and "Wall press (standing): 3 × 15 s each side" in heard[0].text

    # every change audited, by this therapist
    audited = [a for a in await rows(sqlite_url, AuditEvent) if a.action == "programme_changed"]
    assert [a.detail["change"] for a in audited] == [
        "dose",
        "removed",
        "added",
        "progressed",
        "dose",
    ]
    assert fake.refused == []


async def test_another_therapist_cannot_open_or_change_the_programme(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """A forged tap by a therapist who is not this patient's: refused, nothing changed."""
    patient = await _joined(bot, fake)
    therapist = fake.user(THERAPIST)
    card = await _card(therapist)
    mark = therapist.mark()
    await therapist.tap(card, "🏋 Programme")
    view = await therapist.wait_for(lambda m: "Home programme" in m.text, after=mark)
    other = fake.user(2600, "Olga")
    await invite(fake, "Therapist", other)
    items = await rows(sqlite_url, ProgrammeItem)
    assert len(items) == 5
    before = await snapshot(sqlite_url)
    mark_p = patient.mark()
    for data in (_data(view, row=4, col=2), _data(view, row=4, col=0)):
        query = await other.tap_data(view.message_id, data, chat_id=other.id)
        answer = await answered_callback(fake, other, query)
        assert answer.get("text") == "Sorry, that is not available to you."
    query = await other.tap_data(card.message_id, _data(card, row=0, col=0), chat_id=other.id)
    answer = await answered_callback(fake, other, query)
    assert answer.get("text") == "Sorry, that is not available to you."
    await bot.background.run_once()
    after = await snapshot(sqlite_url)
    assert after["programme_item"] == before["programme_item"]
    assert [m for m in patient.inbox if m.seq > mark_p] == []
    assert not [m for m in other.inbox if "Home programme" in m.text]


async def test_the_clinics_media_reach_the_patient_by_file_id(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """A therapist adds a photo to an exercise with the caption /media, a video by picking
    the exercise; a dose change then reaches the patient as the photo by its file_id with
    the new instructions as the caption, and /exercises shows both media."""
    patient = await _joined(bot, fake)
    therapist = fake.user(THERAPIST)
    mark = therapist.mark()
    await therapist.send_photo(caption="/media glute bridge")
    saved = await therapist.wait_for(lambda m: m.text.startswith("Saved"), after=mark)
    assert saved.text == (
        "Saved ✓ The photo now shows with Glute bridge in every patient's instructions."
    )
    photo_id = list(therapist.posted.values())[-1]["photo"][-1]["file_id"]
    mark = therapist.mark()
    await therapist.send_clip("video")
    pick = await therapist.wait_for(lambda m: m.text == "Which exercise is this for?", after=mark)
    mark = therapist.mark()
    await therapist.tap(pick, "Clamshell")
    await therapist.wait_for(lambda m: m.text.startswith("Saved ✓ The video"), after=mark)
    video_id = list(therapist.posted.values())[-1]["video"]["file_id"]
    # a front-desk member cannot set media: their photo changes nothing
    staff = fake.user(STAFF)
    before = await snapshot(sqlite_url)
    await staff.send_photo(caption="/media clamshell")
    await bot.background.run_once()
    assert (await snapshot(sqlite_url))["exercise_media"] == before["exercise_media"]

    card = await _card(therapist)
    mark = therapist.mark()
    await therapist.tap(card, "🏋 Programme")
    view = await therapist.wait_for(lambda m: "Home programme" in m.text, after=mark)
    mark_p = patient.mark()
    query = await therapist.tap_data(view.message_id, _data(view, row=4, col=2))  # bridge +
    await answered_callback(fake, therapist, query)
    await bot.background.run_once()
    await patient.wait_for(lambda m: m.kind == "photo", after=mark_p)
    [heard] = [m for m in patient.inbox if m.seq > mark_p]
    assert heard.kind == "photo" and heard.file_id in {
        s["file_id"] for s in fake.photo_sets[photo_id]
    }
    sent = [r for r in fake.requests if r.method == "sendPhoto" and r.ok]
    assert sent[-1].params["photo"] == photo_id  # by file_id: no re-upload
    assert heard.text.startswith("Your therapist changed how much to do of an exercise:")
    assert "Glute bridge: 2 × 12, 3 days a week" in heard.text

    mark_p = patient.mark()
    await patient.send("/exercises")
    await patient.wait_for(lambda m: m.kind == "photo", after=mark_p)
    shown = [m for m in patient.inbox if m.seq > mark_p]
    assert [m.kind for m in shown] == ["text", "video", "photo"]  # in programme order
    assert "Clamshell" not in shown[0].text and "Hamstring stretch" in shown[0].text
    assert shown[1].text.startswith("Clamshell: 2 × 12 each side") and shown[1].file_id == video_id
    assert shown[2].text.startswith("Glute bridge: 2 × 12")
    assert fake.refused == []
