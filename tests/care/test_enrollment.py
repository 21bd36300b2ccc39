"""Enrollment, joining and consent at the care layer, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import func, select

from care.enrollment import (
    ConsentOutcome,
    EnrollmentError,
    JoinOutcome,
    decide_consent,
    enroll,
    open_join_link,
)
from care.people import InviteOutcome, create_invite, ensure_admin, find_link, redeem_invite
from flows.loader import load_protocol
from store.db import SessionFactory
from store.models import (
    AuditEvent,
    ConsentEvent,
    LinkToken,
    NeedlingSession,
    Patient,
    PatientStatus,
    Role,
    StaffMember,
)

NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
TTL = timedelta(hours=72)
NAME = "Zoë <O'Brien> & 🦵"
PROTOCOL = load_protocol()
TZ = ZoneInfo("Europe/Madrid")


async def _people(sessions: SessionFactory) -> tuple[StaffMember, StaffMember, StaffMember]:
    async with sessions() as db:
        admin, _ = await ensure_admin(db, tg_user_id=1, name="Ada", language="en", now=NOW)
        member = {}
        for role, tg in ((Role.THERAPIST, 2), (Role.STAFF, 3)):
            token = await create_invite(db, admin=admin, role=role, now=NOW, ttl=TTL)
            link = await find_link(db, token)
            assert link is not None
            result = await redeem_invite(
                db, link, tg_user_id=tg, name=f"{role} person", language="en", now=NOW
            )
            assert result.outcome == InviteOutcome.REGISTERED
            member[role] = result.member
        return admin, member[Role.THERAPIST], member[Role.STAFF]


async def _counts(sessions: SessionFactory) -> dict[str, int]:
    async with sessions() as db:
        out = {}
        for model in (Patient, NeedlingSession, LinkToken, ConsentEvent, AuditEvent, StaffMember):
            out[model.__tablename__] = (
                await db.exec(select(func.count()).select_from(model))
            ).one()
        return out


async def _enroll(sessions: SessionFactory, staff: StaffMember, therapist: StaffMember) -> str:
    async with sessions() as db:
        assert therapist.id is not None
        result = await enroll(
            db,
            staff=staff,
            display_name=NAME,
            therapist_id=therapist.id,
            session_ended_at=NOW - timedelta(minutes=30),
            regions=["piriformis", "thoracic"],
            baseline_pain=6,
            language="en",
            now=NOW,
            link_ttl=TTL,
        )
        return result.token


async def test_enroll_creates_patient_session_and_hashed_token(sessions: SessionFactory) -> None:
    _, therapist, staff = await _people(sessions)
    token = await _enroll(sessions, staff, therapist)
    assert len(token) >= 22  # ≥ 128 bits in URL-safe base64
    async with sessions() as db:
        patient = (await db.exec(select(Patient))).one()
        assert patient.display_name == NAME
        assert patient.status == PatientStatus.INVITED
        session = (await db.exec(select(NeedlingSession))).one()
        assert session.regions == ["piriformis", "thoracic"] and session.number == 1
        link = (await db.exec(select(LinkToken).where(LinkToken.kind == "join"))).one()
        assert token not in link.token_hash and link.expires_at == NOW + TTL


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("display_name", "   ", "empty"),
        ("display_name", "x" * 65, "too_long"),
        ("baseline_pain", 11, "baseline"),
        ("regions", [], "regions"),
        ("session_ended_at", NOW + timedelta(minutes=5), "future"),
    ],
)
async def test_bad_enrollment_changes_nothing(
    sessions: SessionFactory, field: str, value: object, reason: str
) -> None:
    _, therapist, staff = await _people(sessions)
    before = await _counts(sessions)
    kwargs: dict[str, object] = {
        "display_name": NAME,
        "session_ended_at": NOW,
        "regions": ["hamstrings"],
        "baseline_pain": 5,
    }
    kwargs[field] = value
    async with sessions() as db:
        with pytest.raises(EnrollmentError, match=reason):
            assert therapist.id is not None
            await enroll(
                db,
                staff=staff,
                therapist_id=therapist.id,
                language="en",
                now=NOW,
                link_ttl=TTL,
                **kwargs,  # type: ignore[arg-type]
            )
    assert await _counts(sessions) == before


async def test_enrolling_with_a_non_therapist_is_refused(sessions: SessionFactory) -> None:
    _, _, staff = await _people(sessions)
    before = await _counts(sessions)
    async with sessions() as db:
        assert staff.id is not None
        with pytest.raises(EnrollmentError, match="therapist"):
            await enroll(
                db,
                staff=staff,
                display_name=NAME,
                therapist_id=staff.id,
                session_ended_at=NOW,
                regions=["other"],
                baseline_pain=3,
                language="en",
                now=NOW,
                link_ttl=TTL,
            )
    assert await _counts(sessions) == before


async def test_join_binds_first_account_and_refuses_others(sessions: SessionFactory) -> None:
    _, therapist, staff = await _people(sessions)
    token = await _enroll(sessions, staff, therapist)
    async with sessions() as db:
        link = await find_link(db, token)
        assert link is not None
        first = await open_join_link(db, link, tg_user_id=50, language="es", now=NOW)
        assert first.outcome == JoinOutcome.ASK_CONSENT
        assert first.therapist is not None and first.therapist.id == therapist.id
        again = await open_join_link(db, link, tg_user_id=50, language="es", now=NOW)
        assert again.outcome == JoinOutcome.ASK_CONSENT
    before = await _counts(sessions)
    async with sessions() as db:
        link = await find_link(db, token)
        assert link is not None
        other = await open_join_link(db, link, tg_user_id=51, language="en", now=NOW)
        assert other.outcome == JoinOutcome.OTHER_ACCOUNT
        patient = (await db.exec(select(Patient))).one()
        assert patient.tg_user_id == 50 and patient.language == "es"
    assert await _counts(sessions) == before


async def test_expired_and_used_links(sessions: SessionFactory) -> None:
    _, therapist, staff = await _people(sessions)
    token = await _enroll(sessions, staff, therapist)
    async with sessions() as db:
        link = await find_link(db, token)
        assert link is not None
        late = await open_join_link(db, link, tg_user_id=50, language="en", now=NOW + TTL)
        assert late.outcome == JoinOutcome.EXPIRED
        assert link.bound_tg_user_id is None
        ok = await open_join_link(db, link, tg_user_id=50, language="en", now=NOW)
        assert ok.patient is not None
        outcome = await decide_consent(
            db, PROTOCOL, default_tz=TZ, patient=ok.patient, agree=True, text_version="v1", now=NOW
        )
        assert outcome == ConsentOutcome.AGREED
    async with sessions() as db:
        link = await find_link(db, token)
        assert link is not None and link.used_at is not None
        used = await open_join_link(db, link, tg_user_id=50, language="en", now=NOW)
        assert used.outcome == JoinOutcome.USED
        event = (await db.exec(select(ConsentEvent))).one()
        assert (event.decision, event.text_version, event.at) == ("agreed", "v1", NOW)
        patient = (await db.exec(select(Patient))).one()
        assert patient.status == PatientStatus.ACTIVE and patient.consented_at == NOW


async def test_decline_is_recorded_and_final(sessions: SessionFactory) -> None:
    _, therapist, staff = await _people(sessions)
    token = await _enroll(sessions, staff, therapist)
    async with sessions() as db:
        link = await find_link(db, token)
        assert link is not None
        joined = await open_join_link(db, link, tg_user_id=60, language="en", now=NOW)
        assert joined.patient is not None
        assert (
            await decide_consent(
                db,
                PROTOCOL,
                default_tz=TZ,
                patient=joined.patient,
                agree=False,
                text_version="v1",
                now=NOW,
            )
            == ConsentOutcome.DECLINED
        )
        assert (
            await decide_consent(
                db,
                PROTOCOL,
                default_tz=TZ,
                patient=joined.patient,
                agree=True,
                text_version="v1",
                now=NOW,
            )
            == ConsentOutcome.NOT_PENDING
        )
    async with sessions() as db:
        patient = (await db.exec(select(Patient))).one()
        assert patient.status == PatientStatus.DECLINED
        decisions = (await db.exec(select(ConsentEvent.decision))).all()
        assert list(decisions) == ["declined"]


async def test_invite_is_single_use_and_expires(sessions: SessionFactory) -> None:
    admin, _, _ = await _people(sessions)
    async with sessions() as db:
        token = await create_invite(db, admin=admin, role=Role.STAFF, now=NOW, ttl=TTL)
        link = await find_link(db, token)
        assert link is not None
        expired = await redeem_invite(
            db, link, tg_user_id=70, name="Late", language="en", now=NOW + TTL
        )
        assert expired.outcome == InviteOutcome.EXPIRED
        ok = await redeem_invite(db, link, tg_user_id=70, name="On time", language="en", now=NOW)
        assert ok.outcome == InviteOutcome.REGISTERED
        again = await redeem_invite(db, link, tg_user_id=71, name="Twice", language="en", now=NOW)
        assert again.outcome == InviteOutcome.USED
    async with sessions() as db:
        assert (
            await db.exec(select(StaffMember).where(StaffMember.tg_user_id == 71))
        ).first() is None


async def _open(sessions: SessionFactory, token: str, tg: int) -> JoinOutcome:
    async with sessions() as db:
        link = await find_link(db, token)
        assert link is not None
        return (await open_join_link(db, link, tg_user_id=tg, language="en", now=NOW)).outcome


@pytest.mark.parametrize(
    ("earlier", "outcome"),
    [
        (PatientStatus.UNREACHABLE, JoinOutcome.ASK_CONSENT),
        (PatientStatus.INVITED, JoinOutcome.ASK_CONSENT),  # opened, never agreed
        (PatientStatus.DISCHARGED, JoinOutcome.ASK_CONSENT),
        (PatientStatus.ACTIVE, JoinOutcome.ACCOUNT_TAKEN),
        (PatientStatus.PAUSED, JoinOutcome.ACCOUNT_TAKEN),
    ],
)
async def test_a_new_link_moves_the_account_from_an_ended_course_only(
    sessions: SessionFactory, earlier: PatientStatus, outcome: JoinOutcome
) -> None:
    """Issue 14 item 9 at the care layer: the account leaves an ended course (its data
    stays) for the new one; an active or paused follow-up keeps it, and nothing changes."""
    _, therapist, staff = await _people(sessions)
    first = await _enroll(sessions, staff, therapist)
    assert await _open(sessions, first, 4000) == JoinOutcome.ASK_CONSENT
    async with sessions() as db:
        old = (await db.exec(select(Patient))).one()
        old.status = earlier
        await db.commit()
        old_id = old.id
    second = await _enroll(sessions, staff, therapist)
    before = await _counts(sessions)
    assert await _open(sessions, second, 4000) == outcome
    async with sessions() as db:
        holder = (await db.exec(select(Patient).where(Patient.tg_user_id == 4000))).one()
        old = await db.get(Patient, old_id)
        assert old is not None and old.status == earlier and old.display_name == NAME
        audits = (
            await db.exec(select(AuditEvent).where(AuditEvent.action == "returning_patient"))
        ).all()
    if outcome == JoinOutcome.ACCOUNT_TAKEN:
        assert holder.id == old_id and await _counts(sessions) == before and not audits
    else:
        assert holder.id != old_id and old.tg_user_id is None
        assert [a.detail["earlier_patient_id"] for a in audits] == [old_id]
        # opening it again asks again, and changes nothing more
        after = await _counts(sessions)
        assert await _open(sessions, second, 4000) == JoinOutcome.ASK_CONSENT
        assert await _counts(sessions) == after
