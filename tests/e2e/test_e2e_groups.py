"""Groups (issue 11 item 1, invariant 10): the bot answers nothing into a group but an
alert card's Acknowledge; History goes to the tapper's private chat.

The clinic's alert group (`ALERT_CHAT_ID`) gets a copy of each URGENT card. Therapists,
admins and patients who write or tap there must not make the bot post names, charts,
exports or a patient's data where everyone in the group reads them, and nothing typed in
a group is stored. Each case asserts the group's chat history (nothing new, no patient
name, no typed words) and the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import select

from scheduler.clock import Clock
from store.models import Alert, AuditEvent, PatientNote
from tests.fakebot import FakeBotAPI, SentMessage, SimChat, SimUser
from tests.support.dbutil import rows
from tests.support.e2e import GROUP, THERAPIST, enrolled_patient, report_symptom_red_flag
from tests.support.harness import ADMIN_ID, ManualWall, Running, running_bot
from tests.support.hostile import Finished
from tests.support.journey import PATIENT_NAME

OTHER_GROUP = -100888  # a group the bot was added to by someone: not the alert group
NEW_ADMIN = 1001  # in ADMIN_IDS, has never opened a private chat with the bot


@pytest.fixture
async def bot(fake: FakeBotAPI, sqlite_url: str, wall: ManualWall) -> AsyncIterator[Running]:
    fake.group(GROUP)
    fake.group(OTHER_GROUP, "Patients' chat")
    async with running_bot(
        fake,
        sqlite_url,
        clock=Clock(wall=wall),
        DISPATCH_INTERVAL_SECONDS="60",
        ALERT_CHAT_ID=str(GROUP),
        ADMIN_IDS=f"{ADMIN_ID},{NEW_ADMIN}",
    ) as running:
        yield running


async def urgent_card_in_group(bot: Running, fake: FakeBotAPI) -> tuple[SimUser, SentMessage]:
    """An enrolled patient reports chest pain: the URGENT card reaches the alert group."""
    patient = await enrolled_patient(fake)
    mark = patient.mark()
    await patient.send("/symptom")
    questions = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    await report_symptom_red_flag(bot, fake, patient, questions)
    card = fake.group(GROUP).last()
    assert "URGENT" in card.text and card.buttons() == [["Acknowledge", "History"]]
    return patient, card


def posted_after(chat: SimChat | SimUser, mark: int) -> list[SentMessage]:
    """The bot's messages in a chat, new or edited since `mark`."""
    return [m for m in chat.inbox if m.seq > mark]


async def say_in_group(finished: Finished, group: SimChat, person: SimUser, text: str) -> None:
    """`person` writes in the group; returns once the dispatcher is done with it."""
    await finished.wait(await group.send(person, text))


async def test_therapist_commands_in_the_alert_group_post_nothing(
    bot: Running, fake: FakeBotAPI, sqlite_url: str
) -> None:
    finished = Finished(bot.app.dispatcher)
    await urgent_card_in_group(bot, fake)
    group, therapist, admin = fake.group(GROUP), fake.user(THERAPIST), fake.user(ADMIN_ID)
    mark = fake.seq
    for command in ("/export", "/patients", "/alerts", "/patient", "/help", "/start"):
        await say_in_group(finished, group, therapist, command)
    await say_in_group(finished, group, admin, "/audit")
    await say_in_group(finished, group, admin, "/invite")
    await bot.background.run_once()
    assert posted_after(group, mark) == []
    assert not any("Zo" in m.text or m.document for m in posted_after(group, mark))
    # nor a word to them privately: the group message is ignored, not redirected
    assert posted_after(therapist, mark) == [] and posted_after(admin, mark) == []
    audit = await rows(sqlite_url, AuditEvent, AuditEvent.action == "export")
    assert audit == []
    assert fake.refused == []


async def test_patient_words_and_mydata_in_a_group_are_ignored_and_not_stored(
    bot: Running, fake: FakeBotAPI, sqlite_url: str
) -> None:
    finished = Finished(bot.app.dispatcher)
    patient = await enrolled_patient(fake)
    await bot.background.run_once()  # session 1's aftercare goes before the mark
    notes_before = await rows(sqlite_url, PatientNote)
    mark = fake.seq
    for group in (fake.group(GROUP), fake.group(OTHER_GROUP)):
        for text in ("/mydata", "my left leg went numb tonight", "/symptom", "/delete"):
            await say_in_group(finished, group, patient, text)
        stranger = fake.user(5555, "Stranger")
        await say_in_group(finished, group, stranger, "/start")
        await say_in_group(finished, group, stranger, "hello bot")
    await bot.background.run_once()
    for group in (fake.group(GROUP), fake.group(OTHER_GROUP)):
        assert posted_after(group, mark) == []
        assert not any("numb" in m.text or "Zo" in m.text or m.document for m in group.inbox)
        # the typed words (the welcome's emergency signs name "numbness" themselves)
        assert not any("went numb" in m.html for m in fake.sent_messages())
    assert posted_after(patient, mark) == []
    assert await rows(sqlite_url, PatientNote) == notes_before == []
    assert fake.refused == []


async def test_history_on_the_group_copy_goes_to_the_tappers_private_chat(
    bot: Running, fake: FakeBotAPI, sqlite_url: str
) -> None:
    _, card = await urgent_card_in_group(bot, fake)
    group, therapist = fake.group(GROUP), fake.user(THERAPIST)
    mark = fake.seq
    query = await therapist.tap(card, "History")
    chart = await therapist.wait_for(lambda m: m.photo is not None, after=mark)
    assert PATIENT_NAME in chart.text and chart.chat_id == THERAPIST
    repost = await therapist.wait_for(lambda m: "URGENT" in m.text, after=mark)
    assert repost.buttons() == [["Acknowledge", "History"]]
    await fake.wait_until(lambda: fake.callbacks[query].answered)
    assert posted_after(group, mark) == []
    assert not any(m.photo or PATIENT_NAME in m.text for m in group.inbox if m.seq > mark)
    viewed = await rows(sqlite_url, AuditEvent, AuditEvent.action == "patient_viewed")
    assert len(viewed) == 1
    assert fake.refused == []


async def test_history_in_the_group_by_someone_who_never_started_the_bot(
    bot: Running, fake: FakeBotAPI, sqlite_url: str
) -> None:
    _, card = await urgent_card_in_group(bot, fake)
    group, newcomer = fake.group(GROUP), fake.user(NEW_ADMIN, "Nina")
    assert not newcomer.started
    mark = fake.seq
    query = await newcomer.tap(card, "History")
    await fake.wait_until(lambda: fake.callbacks[query].answered)
    (toast,) = newcomer.callback_answers
    assert toast["show_alert"] and "Open a private chat with the bot first" in toast["text"]
    assert "t.me/careloop_test_bot" in toast["text"]
    assert posted_after(group, mark) == []
    assert await rows(sqlite_url, AuditEvent, AuditEvent.action == "patient_viewed") == []
    # the refused send to a chat that does not exist yet is the one expected 403
    assert [r.status for r in fake.refused] == [403]


async def test_acknowledge_on_the_group_copy_still_works(
    bot: Running, fake: FakeBotAPI, sqlite_url: str
) -> None:
    """A regression guard: this worked before and must keep working."""
    _, card = await urgent_card_in_group(bot, fake)
    group, therapist = fake.group(GROUP), fake.user(THERAPIST)
    mark = fake.seq
    query = await therapist.tap(card, "Acknowledge")
    await fake.wait_until(lambda: fake.callbacks[query].answered)
    assert therapist.callback_answers[-1]["text"] == "Acknowledged ✓"
    await bot.background.run_once()  # every copy of the card is edited, the group's too
    edited = await group.wait_for(lambda m: "Acknowledged by Theo Rapist" in m.text, after=mark)
    assert edited.message_id == card.message_id
    assert [m.message_id for m in posted_after(group, mark)] == [card.message_id]
    (alert,) = await rows(sqlite_url, Alert)
    assert alert.state == "acknowledged" and alert.acknowledged_by is not None
    assert fake.refused == []


async def test_an_outsider_tapping_the_group_card_changes_nothing(
    bot: Running, fake: FakeBotAPI, sqlite_url: str
) -> None:
    patient, card = await urgent_card_in_group(bot, fake)
    group = fake.group(GROUP)
    mark = fake.seq
    for person in (patient, fake.user(5555, "Stranger")):
        for button in ("Acknowledge", "History"):
            query = await person.tap(card, button)
            await fake.wait_until(lambda q=query: fake.callbacks[q].answered)  # type: ignore[misc]
    await bot.background.run_once()
    assert posted_after(group, mark) == [] and posted_after(patient, mark) == []
    (alert,) = await rows(sqlite_url, Alert)
    assert alert.state == "open" and alert.acknowledged_by is None
    async with bot.app.sessions() as db:
        assert (await db.exec(select(PatientNote))).all() == []
    assert fake.refused == []
