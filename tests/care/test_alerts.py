"""The alert lifecycle at the care layer, on SQLite and PostgreSQL (the writes that decide:
one card per answer, the 3-day repeat rule, the ladder, the callback deadline, the re-send
at opening, routing, the digest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from care.alerts import (
    AckOutcome,
    acknowledge,
    escalate_due,
    record_copy,
    resend_at_opening,
)
from care.digest import digest_items
from care.records import pass_note
from flows.triage import Tier
from store.db import SessionFactory
from store.models import (
    Alert,
    AuditEvent,
    Patient,
    PatientNote,
    StaffMember,
)
from tests.support.alerts import (
    ADA,
    CALLBACK,
    MONDAY_10,
    OLGA,
    POLICY,
    SOON,
    THEO,
    URGENT,
    clinic,
    finding,
    pushes,
    raise_,
)

FRIDAY_19 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)  # 19:00 in Madrid


async def staff(sessions: SessionFactory, tg: int) -> StaffMember:
    async with sessions() as db:
        return (await db.exec(select(StaffMember).where(StaffMember.tg_user_id == tg))).one()


async def show(sessions: SessionFactory, alert_id: int, chat_id: int, message_id: int) -> None:
    async with sessions() as db:
        await record_copy(db, alert_id=alert_id, chat_id=chat_id, message_id=message_id)
        await db.commit()


async def test_several_findings_of_one_answer_make_one_card(sessions: SessionFactory) -> None:
    await clinic(sessions)
    raised = await raise_(sessions, SOON, CALLBACK, now=MONDAY_10)
    assert len(raised) == 1
    card = raised[0]
    assert card.tier == Tier.URGENT_CALLBACK and card.reason_key == "pain_9_10"
    assert card.reason_keys == ["site_infection_signs", "pain_9_10"]
    assert card.reasons == ["Usual pain 9/10", "Call back in 2 h", "Needle site: swelling or pus"]
    assert await pushes(sessions, MONDAY_10) == [THEO]  # one push, to the treating therapist


async def test_a_repeat_within_three_days_updates_and_notifies(sessions: SessionFactory) -> None:
    await clinic(sessions)
    (card,) = await raise_(sessions, SOON, now=MONDAY_10)
    assert card.id is not None
    await show(sessions, card.id, THEO, 77)
    later = MONDAY_10 + timedelta(days=3) - timedelta(seconds=1)
    (again,) = await raise_(sessions, finding(Tier.SOON, "fever", "Fever"), now=later)
    assert again.id == card.id and again.occurrences == 2
    assert again.reasons == ["Needle site: swelling or pus", "Fever"]
    assert await pushes(sessions, later, "alert_notice") == [THEO]  # a new push: the notice
    assert await pushes(sessions, later, "alert_edit") == [THEO]  # and the card is edited
    assert await pushes(sessions, later) == []  # no second card


async def test_a_repeat_after_three_days_opens_a_new_alert(sessions: SessionFactory) -> None:
    await clinic(sessions)
    (card,) = await raise_(sessions, SOON, now=MONDAY_10)
    assert card.id is not None
    await show(sessions, card.id, THEO, 77)
    later = MONDAY_10 + timedelta(days=3) + timedelta(seconds=1)
    (new,) = await raise_(sessions, SOON, now=later)
    assert new.id != card.id and new.reasons == ["Needle site: swelling or pus"]
    assert await pushes(sessions, later) == [THEO]  # a new card, pushed
    assert await pushes(sessions, later, "alert_notice") == []
    async with sessions() as db:
        old = await db.get(Alert, card.id)
        assert old is not None and old.state == "superseded"
    assert await pushes(sessions, later, "alert_edit") == [THEO]  # the old card says so


async def test_urgent_ladder_repeats_every_four_hours_after_the_last_step(
    sessions: SessionFactory,
) -> None:
    await clinic(sessions)
    (alert,) = await raise_(sessions, URGENT, now=MONDAY_10)
    assert alert.id is not None
    for minutes in (15, 60):
        async with sessions() as db:
            assert await escalate_due(db, POLICY, now=MONDAY_10 + timedelta(minutes=minutes)) == 1
    step3 = MONDAY_10 + timedelta(minutes=60, hours=4)
    async with sessions() as db:
        assert await escalate_due(db, POLICY, now=step3 - timedelta(seconds=1)) == 0
    async with sessions() as db:
        assert await escalate_due(db, POLICY, now=step3) == 1
    assert sorted(await pushes(sessions, step3)) == sorted([THEO, OLGA, ADA, -100])
    async with sessions() as db:
        assert await escalate_due(db, POLICY, now=step3) == 0  # taken once
    theo = await staff(sessions, THEO)
    async with sessions() as db:
        result = await acknowledge(db, alert_id=alert.id, staff=theo, now=step3)
    assert result.outcome == AckOutcome.ACKNOWLEDGED
    async with sessions() as db:
        assert await escalate_due(db, POLICY, now=step3 + timedelta(days=2)) == 0


def test_ladder_steps_are_protocol_data() -> None:
    assert POLICY.step_offset(1) == timedelta(minutes=15)
    assert POLICY.step_offset(2) == timedelta(minutes=60)
    assert POLICY.step_offset(3) == timedelta(minutes=60, hours=4)
    assert POLICY.step_offset(4) == timedelta(minutes=60, hours=8)
    assert POLICY.step_offset(0) is None


async def test_acknowledge_then_call_back_done_and_call_back_before_acknowledge(
    sessions: SessionFactory,
) -> None:
    await clinic(sessions)
    theo, olga = await staff(sessions, THEO), await staff(sessions, OLGA)
    (alert,) = await raise_(sessions, CALLBACK, now=MONDAY_10)
    assert alert.id is not None
    async with sessions() as db:
        first = await acknowledge(db, alert_id=alert.id, staff=theo, now=MONDAY_10)
        assert first.outcome == AckOutcome.ACKNOWLEDGED
    async with sessions() as db:
        again = await acknowledge(db, alert_id=alert.id, staff=theo, now=MONDAY_10)
        assert again.outcome == AckOutcome.ALREADY
    done_at = MONDAY_10 + timedelta(minutes=40)
    async with sessions() as db:
        done = await acknowledge(db, alert_id=alert.id, staff=theo, now=done_at, called_back=True)
        assert done.outcome == AckOutcome.CALLED_BACK
    async with sessions() as db:
        twice = await acknowledge(db, alert_id=alert.id, staff=theo, now=done_at, called_back=True)
        assert twice.outcome == AckOutcome.ALREADY
        stored = await db.get(Alert, alert.id)
        assert stored is not None and stored.state == "closed"
        assert (stored.called_back_by, stored.called_back_at) == (theo.id, done_at)
        actions = [e.action for e in (await db.exec(select(AuditEvent))).all()]
        assert actions.count("alert_acknowledged") == 1
        assert actions.count("alert_called_back") == 1
        # Olga may not act on Theo's patient's alert she was never sent
        refused = await acknowledge(db, alert_id=alert.id, staff=olga, now=done_at)
        assert refused.outcome == AckOutcome.REFUSED
    # a new callback (more than 3 days later) marked done straight away: closed, both recorded
    (second,) = await raise_(sessions, CALLBACK, now=MONDAY_10 + timedelta(days=4))
    assert second.id is not None and second.id != alert.id
    async with sessions() as db:
        direct = await acknowledge(
            db, alert_id=second.id, staff=theo, now=MONDAY_10, called_back=True
        )
        assert direct.outcome == AckOutcome.CALLED_BACK
        assert direct.alert is not None and direct.alert.acknowledged_by == theo.id


async def test_callback_not_done_in_two_opening_hours_escalates_to_the_others(
    sessions: SessionFactory,
) -> None:
    await clinic(sessions)
    (alert,) = await raise_(sessions, CALLBACK, now=MONDAY_10)
    assert alert.callback_due_at == MONDAY_10 + timedelta(hours=2)
    theo = await staff(sessions, THEO)
    assert alert.id is not None
    async with sessions() as db:  # acknowledged does not stop the callback deadline
        await acknowledge(db, alert_id=alert.id, staff=theo, now=MONDAY_10)
    due = MONDAY_10 + timedelta(hours=2)
    async with sessions() as db:
        assert await escalate_due(db, POLICY, now=due - timedelta(seconds=1)) == 0
    async with sessions() as db:
        assert await escalate_due(db, POLICY, now=due) == 1
    assert await pushes(sessions, due) == [THEO, OLGA, ADA]
    async with sessions() as db:
        assert await escalate_due(db, POLICY, now=due + timedelta(hours=5)) == 0  # once


async def test_a_callback_raised_at_19_on_friday_is_due_on_monday(
    sessions: SessionFactory,
) -> None:
    await clinic(sessions)
    (alert,) = await raise_(sessions, CALLBACK, now=FRIDAY_19)
    monday_9 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 Madrid: 1 h Fri + 1 h Mon
    assert alert.callback_due_at == monday_9
    async with sessions() as db:
        assert await escalate_due(db, POLICY, now=monday_9 - timedelta(seconds=1)) == 0
    async with sessions() as db:
        assert await escalate_due(db, POLICY, now=monday_9) == 1


async def test_unacknowledged_alerts_are_resent_at_opening_once_a_day(
    sessions: SessionFactory,
) -> None:
    await clinic(sessions)
    (alert,) = await raise_(sessions, SOON, now=FRIDAY_19 + timedelta(hours=2))  # Fri 21:00
    saturday_9 = FRIDAY_19 + timedelta(hours=14)
    monday_8 = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    async with sessions() as db:
        assert await resend_at_opening(db, POLICY, now=saturday_9) == 0  # closed at weekends
    async with sessions() as db:
        assert await resend_at_opening(db, POLICY, now=monday_8 - timedelta(seconds=1)) == 0
    async with sessions() as db:
        assert await resend_at_opening(db, POLICY, now=monday_8) == 1
    async with sessions() as db:  # a second instance, or the next sweep: nothing more
        assert await resend_at_opening(db, POLICY, now=monday_8 + timedelta(hours=3)) == 0
    assert await pushes(sessions, monday_8) == [THEO]
    async with sessions() as db:  # still unacknowledged the next morning: again, once
        assert await resend_at_opening(db, POLICY, now=monday_8 + timedelta(days=1)) == 1
    theo = await staff(sessions, THEO)
    assert alert.id is not None
    async with sessions() as db:
        await acknowledge(db, alert_id=alert.id, staff=theo, now=monday_8 + timedelta(days=1))
    async with sessions() as db:
        assert await resend_at_opening(db, POLICY, now=monday_8 + timedelta(days=2)) == 0


async def test_an_alert_raised_in_opening_hours_is_not_resent_the_same_day(
    sessions: SessionFactory,
) -> None:
    await clinic(sessions)
    await raise_(sessions, SOON, now=MONDAY_10)
    async with sessions() as db:
        assert await resend_at_opening(db, POLICY, now=MONDAY_10 + timedelta(hours=1)) == 0


async def test_inactive_or_unreachable_therapist_alerts_go_to_others_and_admins(
    sessions: SessionFactory,
) -> None:
    await clinic(sessions)
    async with sessions() as db:
        theo = (await db.exec(select(StaffMember).where(StaffMember.tg_user_id == THEO))).one()
        theo.active = False
        await db.commit()
    await raise_(sessions, SOON, now=MONDAY_10)
    assert await pushes(sessions, MONDAY_10) == [OLGA, ADA]
    async with sessions() as db:
        theo = (await db.exec(select(StaffMember).where(StaffMember.tg_user_id == THEO))).one()
        theo.active, theo.unreachable_at = True, MONDAY_10
        await db.commit()
    later = MONDAY_10 + timedelta(days=4)
    await raise_(sessions, CALLBACK, now=later)
    assert await pushes(sessions, later) == [OLGA, ADA]


async def test_digest_lists_unacknowledged_soon_and_urgent_first_oldest_first(
    sessions: SessionFactory,
) -> None:
    patient = await clinic(sessions)
    await raise_(sessions, finding(Tier.ROUTINE, "stall", "Review the plan"), now=MONDAY_10)
    await raise_(sessions, SOON, now=MONDAY_10 + timedelta(hours=1))
    theo = await staff(sessions, THEO)
    assert theo.id is not None
    async with sessions() as db:
        items = await digest_items(db, theo.id, now=MONDAY_10 + timedelta(days=1, hours=2))
    assert [(i.alert and i.alert.tier, i.waited) for i in items] == [
        (Tier.SOON, timedelta(days=1, hours=1)),
        (Tier.ROUTINE, None),
    ]
    assert items[0].patient_id == patient.id


async def test_two_passed_messages_both_reach_the_therapist(sessions: SessionFactory) -> None:
    await clinic(sessions)
    async with sessions() as db:
        for text in ("please call me", "still waiting, please call"):
            db.add(PatientNote(patient_id=1, text=text, created_at=MONDAY_10))
        await db.commit()
    async with sessions() as db:
        patient = await db.get(Patient, 1)
        assert patient is not None
        assert await pass_note(db, POLICY, patient, note_id=1, now=MONDAY_10)
    await show(sessions, 1, THEO, 50)
    later = MONDAY_10 + timedelta(minutes=5)
    async with sessions() as db:
        patient = await db.get(Patient, 1)
        assert patient is not None
        assert await pass_note(db, POLICY, patient, note_id=2, now=later)
        alert = await db.get(Alert, 1)
        assert alert is not None
        assert any("please call me" in r for r in alert.reasons)
        assert any("still waiting" in r for r in alert.reasons)
    assert await pushes(sessions, later, "alert_notice") == [THEO]
