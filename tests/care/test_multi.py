"""care.multi_answers and the triage facts against a real database (SQLite and PostgreSQL):
toggles, Done, the standing-draft sweep with its outbox reply, and Q5 across sessions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from care.alerts import AlertPolicy
from care.checkins import AnswerStatus, record_answer
from care.context import load_context
from care.multi_answers import (
    DraftStatus,
    draft_mask,
    finish_draft,
    record_standing_drafts,
    toggle_draft,
)
from flows.engine import questions_for
from flows.loader import load_protocol
from flows.protocol import QuestionEntry
from store.db import SessionFactory
from store.models import (
    Alert,
    Answer,
    AnswerDraft,
    Checkin,
    CheckinState,
    NeedlingSession,
    OutboxKind,
    OutboxMessage,
    Patient,
    PatientStatus,
    Role,
    StaffMember,
)

PROTOCOL = load_protocol()
Q4 = PROTOCOL.questions["Q4"]
T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
POLICY = AlertPolicy()


def bit(key: str) -> int:
    return 1 << Q4.choice_index(key)


async def seed(
    sessions: SessionFactory,
    *sessions_regions: list[str],
    key: str = "h3",
    gap: timedelta = timedelta(days=1),
) -> tuple[int, int]:
    """A patient with sessions (`gap` apart) and an open check-in of the last one."""
    async with sessions() as db:
        staff = StaffMember(tg_user_id=900, role=Role.THERAPIST, name="T", created_at=T0)
        db.add(staff)
        await db.flush()
        assert staff.id is not None
        patient = Patient(
            therapist_id=staff.id,
            status=PatientStatus.ACTIVE,
            tg_user_id=700,
            baseline_pain=5,
            created_at=T0,
        )
        db.add(patient)
        await db.flush()
        assert patient.id is not None
        last = None
        for n, regions in enumerate(sessions_regions, 1):
            last = NeedlingSession(
                patient_id=patient.id,
                number=n,
                ended_at=T0 + gap * (n - 1),
                regions=regions,
                created_at=T0,
            )
            db.add(last)
            await db.flush()
        assert last is not None
        checkin = Checkin(
            patient_id=patient.id,
            session_id=last.id,
            key=key,
            state=CheckinState.OPEN,
            due_at=last.ended_at + timedelta(hours=3),
            expires_at=last.ended_at + timedelta(hours=12),
            opened_at=last.ended_at + timedelta(hours=3),
        )
        db.add(checkin)
        await db.commit()
        assert checkin.id is not None
        return patient.id, checkin.id


async def patient_of(db, patient_id: int) -> Patient:  # type: ignore[no-untyped-def]
    found = await db.get(Patient, patient_id)
    assert found is not None
    return found


async def test_toggles_are_stored_and_nothing_new_is_exclusive(sessions: SessionFactory) -> None:
    patient_id, checkin_id = await seed(sessions, ["thoracic"])
    at = T0 + timedelta(hours=3)
    async with sessions() as db:
        patient = await patient_of(db, patient_id)

        async def tap(choice: str, minutes: int = 0) -> int:
            result = await toggle_draft(
                db,
                PROTOCOL,
                patient=patient,
                checkin_id=checkin_id,
                question_key="Q4",
                choice=Q4.choice_index(choice),
                now=at + timedelta(minutes=minutes),
            )
            assert result.status == DraftStatus.TOGGLED
            return result.selected

        assert await tap("leg_weakness") == bit("leg_weakness")
        assert await tap("fever_chills", 1) == bit("leg_weakness") | bit("fever_chills")
        assert await tap("nothing_new", 2) == bit("nothing_new")
        assert await tap("fainted", 3) == bit("fainted")
        assert await tap("fainted", 4) == 0
        assert await tap("fever_chills", 5) == bit("fever_chills")
        drafts = (await db.exec(select(AnswerDraft))).all()
        assert [(d.choice, d.selected_at) for d in drafts] == [
            (Q4.choice_index("fever_chills"), at + timedelta(minutes=5))
        ]
        # not a multi question, not a choice, not this check-in's question: refused
        for question, choice in (("Q1", 0), ("Q4", 6), ("Q6", 0)):
            refused = await toggle_draft(
                db,
                PROTOCOL,
                patient=patient,
                checkin_id=checkin_id,
                question_key=question,
                choice=choice,
                now=at,
            )
            assert refused.status == DraftStatus.REFUSED
        # Done records the mask through record_answer and forgets the draft
        done = await finish_draft(
            db,
            PROTOCOL,
            POLICY,
            patient=patient,
            checkin_id=checkin_id,
            question_key="Q4",
            now=at + timedelta(minutes=6),
        )
        assert done is not None and done.status == AnswerStatus.RECORDED
        assert [f.reason_key for f in done.findings] == ["fever"]
        assert await draft_mask(db, patient=patient, checkin_id=checkin_id, question_key="Q4") == 0
        again = await toggle_draft(
            db,
            PROTOCOL,
            patient=patient,
            checkin_id=checkin_id,
            question_key="Q4",
            choice=0,
            now=at,
        )
        assert again.status == DraftStatus.ANSWERED and again.selected == bit("fever_chills")
        # a tap answer (the Done path) does not queue an outbox reply: the handler replies
        assert (await db.exec(select(OutboxMessage.kind))).all() == ["alert"]


async def test_a_draft_standing_10_minutes_is_recorded_with_its_reply_and_alert(
    sessions: SessionFactory,
) -> None:
    patient_id, checkin_id = await seed(sessions, ["thoracic"])
    at = T0 + timedelta(hours=3)
    async with sessions() as db:
        patient = await patient_of(db, patient_id)
        for choice, minutes in (("felt_faint", 0), ("leg_weakness", 5)):
            await toggle_draft(
                db,
                PROTOCOL,
                patient=patient,
                checkin_id=checkin_id,
                question_key="Q4",
                choice=Q4.choice_index(choice),
                now=at + timedelta(minutes=minutes),
            )
    async with sessions() as db:
        early = await record_standing_drafts(
            db, PROTOCOL, POLICY, now=at + timedelta(minutes=9, seconds=59)
        )
        assert early == []
        assert (await db.exec(select(Answer))).all() == []
    async with sessions() as db:
        done = await record_standing_drafts(db, PROTOCOL, POLICY, now=at + timedelta(minutes=10))
        assert [r.status for r in done] == [AnswerStatus.RECORDED]
        assert [f.reason_key for f in done[0].findings] == ["leg_weakness", "felt_faint"]
    async with sessions() as db:
        answers = (await db.exec(select(Answer))).all()
        assert [a.value for a in answers] == [bit("felt_faint") | bit("leg_weakness")]
        reply = (
            await db.exec(
                select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.SAFETY_REPLY)
            )
        ).one()
        assert reply.urgent and reply.chat_id == 700 and reply.checkin_id == checkin_id
        assert reply.payload == {"tier": "urgent", "emergency": True, "advice": ["felt_faint"]}
        (alert,) = (await db.exec(select(Alert))).all()  # one card for the answer
        assert alert.tier == "urgent" and alert.reason_key == "leg_weakness"
        assert sorted(alert.reason_keys) == ["felt_faint", "leg_weakness"]
        assert (await db.exec(select(AnswerDraft))).all() == []
        # a second sweep finds nothing
        assert await record_standing_drafts(db, PROTOCOL, POLICY, now=at + timedelta(hours=1)) == []


async def test_a_draft_on_a_checkin_running_out_is_recorded_before_it_closes(
    sessions: SessionFactory,
) -> None:
    patient_id, checkin_id = await seed(sessions, ["thoracic"])
    expires = T0 + timedelta(hours=12)
    async with sessions() as db:
        patient = await patient_of(db, patient_id)
        await toggle_draft(
            db,
            PROTOCOL,
            patient=patient,
            checkin_id=checkin_id,
            question_key="Q4",
            choice=Q4.choice_index("fainted"),
            now=expires - timedelta(minutes=2),
        )
    async with sessions() as db:
        assert (
            await record_standing_drafts(db, PROTOCOL, POLICY, now=expires - timedelta(seconds=1))
            == []
        )
        done = await record_standing_drafts(db, PROTOCOL, POLICY, now=expires)
        assert [f.reason_key for r in done for f in r.findings] == ["fainted"]


@pytest.mark.parametrize(("gap_hours", "asked"), [(20, True), (72, True), (73, False)])
async def test_q5_is_asked_and_urgent_after_a_trunk_session_of_yesterday(
    sessions: SessionFactory, gap_hours: float, asked: bool
) -> None:
    """Issue 10: Q5 ignored a TRUNK session from yesterday when today's was LOWER only —
    today's check-ins did not ask it, and a Yes was not URGENT."""
    patient_id, checkin_id = await seed(
        sessions, ["thoracic"], ["piriformis"], gap=timedelta(hours=gap_hours)
    )
    async with sessions() as db:
        patient = await patient_of(db, patient_id)
        checkin = await db.get(Checkin, checkin_id)
        assert checkin is not None
        ctx = await load_context(db, PROTOCOL, patient, checkin.session_id)
        refs = [r.key for r in questions_for(PROTOCOL.checkins["h3"], ctx)]
        assert refs == (["Q1", "Q4", "Q5"] if asked else ["Q1", "Q4"])
        result = await record_answer(
            db,
            PROTOCOL,
            POLICY,
            patient=patient,
            checkin_id=checkin_id,
            question_key="Q5",
            code=1,
            now=T0 + timedelta(hours=gap_hours + 3),
        )
    if asked:
        assert result.status == AnswerStatus.RECORDED
        expected = "q5_chest_trunk" if gap_hours + 3 <= 72 else "q5_chest"
        assert [f.reason_key for f in result.findings] == [expected]
        assert result.emergency
    else:
        assert result.status == AnswerStatus.REFUSED


async def test_q5_yes_counts_a_trunk_session_of_yesterday(sessions: SessionFactory) -> None:
    """Triage looks at every session: Q5 = Yes 27 h after a TRUNK session is URGENT in a
    check-in of a later LOWER session (here a protocol that always asks Q5 at 3 h)."""
    h3 = PROTOCOL.checkins["h3"]
    asks_q5 = replace(h3, questions=(QuestionEntry("Q1"), QuestionEntry("Q5")))
    protocol = replace(PROTOCOL, checkins={**PROTOCOL.checkins, "h3": asks_q5})
    patient_id, checkin_id = await seed(sessions, ["thoracic"], ["piriformis"])
    async with sessions() as db:
        patient = await patient_of(db, patient_id)
        result = await record_answer(
            db,
            protocol,
            POLICY,
            patient=patient,
            checkin_id=checkin_id,
            question_key="Q5",
            code=1,
            now=T0 + timedelta(days=1, hours=3),  # 27 h after the TRUNK session
        )
    assert [(f.reason_key, f.tier) for f in result.findings] == [("q5_chest_trunk", "urgent")]
    assert result.emergency
