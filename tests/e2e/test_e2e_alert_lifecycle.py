"""Alerts keep their promise (issue 10, items 5–8 and 9b), end to end: the real aiogram
dispatcher and background jobs against the strict fake Bot API, on a hand-moved clock.

Findings are raised with the care operation the check-in uses (so each test sets up exactly
the alert it is about); everything after that — the outbox, the cards, the taps, the edits,
the ladder, the re-sends — is the product's own path. Times are Europe/Madrid (UTC+1); the
clinic opens Mon–Fri 08:00–20:00 (the default protocol's [alerts]).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from care.alerts import raise_findings
from flows.triage import Finding, Tier
from store.models import Alert, AuditEvent, OutboxMessage, Patient, StaffMember
from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.dbutil import rows
from tests.support.e2e import THERAPIST, advance_to_checkin, answer_all, chooser, enrolled_patient
from tests.support.harness import ADMIN_ID, ManualWall, Running
from tests.support.journey import invite

OTHER = 2500
SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


def write_sample(name: str, message: SentMessage) -> None:
    """docs/samples/ from a real run:
    `WRITE_SAMPLES=1 pytest tests/e2e/test_e2e_alert_lifecycle.py`."""
    if os.environ.get("WRITE_SAMPLES"):
        (SAMPLES / name).write_text(f"{message.text}\n{message.buttons()}\n", encoding="utf-8")


CALLBACK = Finding(
    tier=Tier.URGENT_CALLBACK,
    reason_key="pain_9_10",
    reasons=(
        "Usual pain 9/10 at the 24 h check-in, 24.5 h after session 1 (callback from 9/10)",
        "Please call the patient back within 2 h in opening hours",
    ),
    stops_checkin=False,
    fact={
        "reason": "pain_9_10",
        "question": "Q2",
        "value": 9,
        "baseline": 6,
        "hours": 24.5,
        "session": 1,
    },
)
SOON = Finding(
    tier=Tier.SOON,
    reason_key="site_infection_signs",
    reasons=("Needle site: swelling or pus, no fever reported",),
    stops_checkin=False,
    fact={
        "reason": "site_infection_signs",
        "question": "Q3",
        "site": "swelling_or_pus",
        "hours": 26,
        "session": 1,
    },
)
URGENT = Finding(
    tier=Tier.URGENT,
    reason_key="q6_cauda_equina",
    reasons=("New saddle numbness, bladder/bowel change or symptoms in both legs (Q6 = Yes)",),
    stops_checkin=True,
    fact={"reason": "q6_cauda_equina", "question": "Q6", "hours": 5, "session": 1},
)


async def clinic(fake: FakeBotAPI) -> tuple[SimUser, SimUser, SimUser, SimUser]:
    """A patient of Theo; Olga is a second therapist, Ada the admin."""
    patient = await enrolled_patient(fake)
    olga = fake.user(OTHER, "Olga")
    await invite(fake, "Therapist", olga)
    return patient, fake.user(THERAPIST), olga, fake.user(ADMIN_ID)


async def settle(bot: Running) -> None:
    """Sweeps and dispatch until nothing due is left (per-chat pacing can leave some)."""
    for _ in range(10):
        await bot.background.run_once()
        async with bot.app.sessions() as db:
            due = (
                await db.exec(
                    select(OutboxMessage.id).where(
                        OutboxMessage.state == "pending",
                        OutboxMessage.due_at <= bot.app.clock.now(),
                    )
                )
            ).first()
        if due is None:
            return


async def raise_now(bot: Running, *findings: Finding) -> None:
    async with bot.app.sessions() as db:
        patient = await db.get(Patient, 1)
        assert patient is not None
        await raise_findings(
            db,
            bot.app.dispatcher["policy"],
            patient=patient,
            findings=list(findings),
            now=bot.app.clock.now(),
        )
        await db.commit()
    await settle(bot)


def cards(person: SimUser, after: int, heading: str = "") -> list[SentMessage]:
    return [m for m in person.inbox if m.seq > after and m.reply_markup and heading in m.text]


async def test_a_9_of_10_answer_with_soon_findings_makes_one_card(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """Item 8: one answer, one card listing every finding (highest tier decides)."""
    patient = await enrolled_patient(fake, baseline="5")
    therapist = fake.user(THERAPIST)
    for prefix in ("A quick check", "Your check-in one day"):
        message = await advance_to_checkin(bot, wall, patient, prefix, step=timedelta(hours=1))
        await answer_all(patient, message)
    h48 = await advance_to_checkin(
        bot, wall, patient, "Your check-in two days", step=timedelta(hours=1)
    )
    mark = therapist.mark()
    await answer_all(patient, h48, chooser({"usual pain": "9"}))  # 9/10, baseline 5 + 4
    await settle(bot)
    new = [m for m in therapist.inbox if m.seq > mark]
    assert len(new) == 1, [m.text for m in new]
    card = new[0]
    assert card.text.startswith("🟠 URGENT — call back")
    # one sentence a therapist would write (the callback and the rise read alike: once)
    assert "• Pain 9/10 2 days after session 1, 4 above their usual 5" in card.text
    assert card.text.count("• ") == 1 and "h after" not in card.text
    assert card.buttons() == [["Acknowledge", "History", "Call back done"]]
    alerts = await rows(sqlite_url, Alert)
    assert len(alerts) == 1
    assert set(alerts[0].reason_keys) == {"pain_9_10", "q2_above_baseline"}
    write_sample("alert-several-findings.txt", card)
    assert fake.refused == []


async def test_callback_acknowledge_then_call_back_done_both_work_and_are_audited(
    bot: Running, fake: FakeBotAPI, sqlite_url: str
) -> None:
    """Item 7: after Acknowledge, "Call back done" closes the alert (it answered "Already
    acknowledged")."""
    _, therapist, _, _ = await clinic(fake)
    mark = therapist.mark()
    await raise_now(bot, CALLBACK)
    card = await therapist.wait_for(lambda m: "call back" in m.text, after=mark)
    mark = therapist.mark()
    await therapist.tap(card, "Acknowledge")
    await settle(bot)
    card = await therapist.wait_for(
        lambda m: m.message_id == card.message_id and "Acknowledged by" in m.text, after=mark
    )
    assert card.buttons() == [["History", "Call back done"]]
    mark = therapist.mark()
    await therapist.tap(card, "Call back done")
    await settle(bot)
    card = await therapist.wait_for(
        lambda m: m.message_id == card.message_id and "Called back by Theo" in m.text, after=mark
    )
    assert card.buttons() == [["History"]] and "Acknowledged by Theo" in card.text
    answers = [a.get("text") for a in therapist.callback_answers]
    assert "Call back recorded ✓" in answers
    alert = (await rows(sqlite_url, Alert))[0]
    assert alert.state == "closed" and alert.called_back_by == alert.acknowledged_by
    audit = {e.action for e in await rows(sqlite_url, AuditEvent)}
    assert {"alert_acknowledged", "alert_called_back"} <= audit
    assert fake.refused == []


async def test_urgent_ladder_goes_on_every_four_hours_until_acknowledged(
    bot: Running, fake: FakeBotAPI, wall: ManualWall
) -> None:
    """Item 5: the ladder stopped after the 60-minute step."""
    _, therapist, olga, admin = await clinic(fake)
    mark = fake.seq
    await raise_now(bot, URGENT)
    for minutes in (15, 45):  # the 15 and 60 minute steps
        wall.advance(timedelta(minutes=minutes))
        await settle(bot)
    assert any("Escalation 2" in m.text for m in olga.inbox if m.seq > mark)
    wall.advance(timedelta(hours=4) - timedelta(seconds=1))
    await settle(bot)
    assert not any("Escalation 3" in m.text for m in fake.sent_messages())
    wall.advance(timedelta(seconds=1))  # 60 min + 4 h: a new push to all therapists and admins
    await settle(bot)
    for person in (therapist, olga, admin):
        assert [m for m in person.inbox if "Escalation 3" in m.text]
    step3 = next(m for m in therapist.inbox if "Escalation 3" in m.text)
    await therapist.tap(step3, "Acknowledge")
    wall.advance(timedelta(hours=8))
    await settle(bot)
    assert not any("Escalation 4" in m.text for m in fake.sent_messages())
    assert fake.refused == []


async def test_callback_not_done_two_opening_hours_later_goes_to_the_others(
    bot: Running, fake: FakeBotAPI, wall: ManualWall
) -> None:
    """Item 7: nothing followed up a callback not made within 2 h (of opening hours)."""
    _, therapist, olga, admin = await clinic(fake)
    await raise_now(bot, CALLBACK)  # Monday 10:00 local
    card = next(m for m in therapist.inbox if "call back" in m.text)
    await therapist.tap(card, "Acknowledge")  # seen, but nobody calls
    mark = fake.seq
    wall.advance(timedelta(hours=2) - timedelta(seconds=1))
    await settle(bot)
    assert not any("overdue" in m.text for m in fake.sent_messages() if m.seq > mark)
    wall.advance(timedelta(seconds=1))
    await settle(bot)
    for person in (therapist, olga, admin):
        overdue = [m for m in person.inbox if m.seq > mark and "Call back overdue" in m.text]
        assert len(overdue) == 1 and "Call back done" in str(overdue[0].buttons())
    mark = olga.mark()
    await olga.tap(next(m for m in olga.inbox if "Call back overdue" in m.text), "Call back done")
    await settle(bot)
    assert any("Called back by Olga" in m.text for m in therapist.inbox)
    assert fake.refused == []


async def test_unacknowledged_alert_is_resent_at_opening_once(
    bot: Running, fake: FakeBotAPI, wall: ManualWall, sqlite_url: str
) -> None:
    """Item 3 of the brief: re-sent at the first opening moment, once a day."""
    _, therapist, _, _ = await clinic(fake)
    wall.advance(timedelta(hours=11))  # Monday 21:00 local, after closing
    await raise_now(bot, SOON)
    mark = therapist.mark()
    wall.advance(timedelta(hours=11) - timedelta(seconds=1))  # Tuesday 07:59:59
    await settle(bot)
    assert not [m for m in therapist.inbox if m.seq > mark and "Re-sent" in m.text]
    wall.advance(timedelta(seconds=1))  # 08:00: the clinic opens
    await settle(bot)
    wall.advance(timedelta(minutes=30))
    await settle(bot)
    resent = [m for m in therapist.inbox if m.seq > mark and "Re-sent" in m.text]
    assert len(resent) == 1 and resent[0].buttons()[0][:2] == ["Acknowledge", "History"]
    digest = [m for m in therapist.inbox if m.seq > mark and "Daily digest" in m.text]
    assert digest and "SOON alert not acknowledged for 11 h" in digest[0].text
    write_sample("alert-resent.txt", resent[0])
    await therapist.tap(resent[0], "Acknowledge")
    await settle(bot)
    shown = [m for m in therapist.inbox if m.text.startswith(("🟡 SOON", "🔁 Re-sent"))]
    assert len(shown) == 2 and all("Acknowledged by Theo" in m.text for m in shown)
    shown_before = len([m for m in therapist.inbox if m.reply_markup])
    wall.advance(timedelta(days=1))
    await settle(bot)
    assert len([m for m in therapist.inbox if m.reply_markup]) == shown_before  # acknowledged
    assert fake.refused == []


async def test_inactive_therapist_soon_and_callback_alerts_go_to_others_and_admins(
    bot: Running, fake: FakeBotAPI
) -> None:
    """Item 6: alerts of an inactive therapist reached nobody."""
    _, therapist, olga, admin = await clinic(fake)
    async with bot.app.sessions() as db:
        theo = (await db.exec(select(StaffMember).where(StaffMember.tg_user_id == THERAPIST))).one()
        theo.active = False
        await db.commit()
    mark = fake.seq
    await raise_now(bot, SOON)
    for person in (olga, admin):
        assert len(cards(person, mark, "SOON")) == 1
    mark = fake.seq
    async with bot.app.sessions() as db:  # the SOON one acknowledged: the callback is new
        alert = (await db.exec(select(Alert))).one()
        alert.state = "acknowledged"
        await db.commit()
    await raise_now(bot, CALLBACK)
    for person in (olga, admin):
        assert len(cards(person, mark, "call back")) == 1
    assert not [m for m in therapist.inbox if "SOON" in m.text or "call back" in m.text]
    assert fake.refused == []


async def test_blocked_therapist_soon_and_callback_alerts_go_to_others_and_admins(
    bot: Running, fake: FakeBotAPI, sqlite_url: str
) -> None:
    """Item 6: a therapist who blocked the bot (403) is unreachable until they write again."""
    _, therapist, olga, admin = await clinic(fake)
    therapist.blocked = True
    mark = fake.seq
    await raise_now(bot, SOON)
    for person in (olga, admin):
        got = cards(person, mark, "SOON")
        assert len(got) == 1 and "cannot be reached" in got[0].text
    theo = (await rows(sqlite_url, StaffMember, StaffMember.tg_user_id == THERAPIST))[0]
    assert theo.unreachable_at is not None
    async with bot.app.sessions() as db:
        alert = (await db.exec(select(Alert))).one()
        alert.state = "acknowledged"
        await db.commit()
    mark = fake.seq
    await raise_now(bot, CALLBACK)  # known unreachable: straight to the others
    for person in (olga, admin):
        assert len(cards(person, mark, "call back")) == 1
    await therapist.send("/alerts")  # writing to the bot unblocks it and clears the mark
    await therapist.wait_for(lambda m: "Open alerts (1)" in m.text and "🟠" in m.text)
    theo = (await rows(sqlite_url, StaffMember, StaffMember.tg_user_id == THERAPIST))[0]
    assert theo.unreachable_at is None


async def test_acknowledge_from_an_alerts_repost_edits_every_copy(
    bot: Running, fake: FakeBotAPI
) -> None:
    """Item 8: acknowledging from a card opened from /alerts edited the original card, not
    only the tapped copy."""
    _, therapist, _, _ = await clinic(fake)
    await raise_now(bot, SOON)
    original = next(m for m in therapist.inbox if "SOON" in m.text)
    mark = therapist.mark()
    await therapist.send("/alerts")
    summary = await therapist.wait_for(lambda m: "Open alerts" in m.text, after=mark)
    mark = therapist.mark()
    await therapist.tap(summary, "1. Zoë <O'Brien> & 🦵")
    repost = await therapist.wait_for(lambda m: "SOON" in m.text, after=mark)
    assert repost.message_id != original.message_id
    mark = therapist.mark()
    await therapist.tap(summary, "1. Zoë <O'Brien> & 🦵")  # a second copy, left untouched
    second = await therapist.wait_for(lambda m: "SOON" in m.text, after=mark)
    await therapist.tap(repost, "Acknowledge")
    await settle(bot)
    for shown in (original, repost, second):
        await therapist.wait_for(
            lambda m, i=shown.message_id: m.message_id == i and "Acknowledged by" in m.text,
            after=0,
        )
        current = therapist.message(shown.message_id)
        assert current is not None and current.buttons() == [["History"]]
    assert fake.refused == []


async def test_two_passed_messages_are_two_pushes_with_both_texts_on_the_card(
    bot: Running, fake: FakeBotAPI, sqlite_url: str
) -> None:
    """Item 9 (second half): a second "please call me" replaced the first one's words on
    the open alert, with no new push."""
    patient, therapist, _, _ = await clinic(fake)
    pushes: list[SentMessage] = []
    for words in ("Please call me, my leg feels odd", "Still waiting, please call me"):
        mark, therapist_mark = patient.mark(), therapist.mark()
        await patient.send(words)
        reply = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
        await patient.tap(reply, "Pass this message to my therapist")
        await patient.wait_for(lambda m: "Passed to your therapist" in m.text, after=mark)
        await settle(bot)
        pushes.append(
            await therapist.wait_for(
                lambda m, w=words, n=not pushes: (
                    w in m.text and m.edits == 0 and (n or m.reply_to_message_id is not None)
                ),
                after=therapist_mark,
            )
        )
    first, second = pushes
    assert first.reply_markup and second.reply_to_message_id == first.message_id
    assert "Still waiting" in second.text and "leg feels odd" not in second.text
    card = therapist.message(first.message_id)
    assert card is not None
    assert "leg feels odd" in card.text and "Still waiting" in card.text
    assert len(await rows(sqlite_url, Alert)) == 1
    assert fake.refused == []
