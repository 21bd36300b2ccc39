"""A small clinic (two therapists, an admin, the desk, one patient) and the findings the
care-layer alert tests raise for it, on a Monday morning in Madrid."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from care.alerts import AlertPolicy, raise_findings
from flows.loader import load_protocol
from flows.triage import Finding, Tier
from store.db import SessionFactory
from store.models import Alert, OutboxMessage, Patient, PatientStatus, Role, StaffMember

TZ = ZoneInfo("Europe/Madrid")
MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Madrid
POLICY = AlertPolicy.of(
    load_protocol(), escalation_minutes=(15, 60), alert_chat_id=-100, clinic_tz=TZ
)
THEO, OLGA, ADA = 2000, 2500, 1000


def finding(tier: Tier, key: str, *lines: str) -> Finding:
    return Finding(tier=tier, reason_key=key, reasons=lines or (key,), stops_checkin=False)


SOON = finding(Tier.SOON, "site_infection_signs", "Needle site: swelling or pus")
CALLBACK = finding(Tier.URGENT_CALLBACK, "pain_9_10", "Usual pain 9/10", "Call back in 2 h")
URGENT = finding(Tier.URGENT, "q6_cauda_equina", "Q6 = Yes")


# findings as triage makes them: with the facts the card's sentences are written from
PAIN_CALLBACK = Finding(
    tier=Tier.URGENT_CALLBACK,
    reason_key="pain_9_10",
    reasons=("Usual pain 9/10 at the 48 h check-in, 50.4 h after session 1",),
    stops_checkin=False,
    fact={
        "reason": "pain_9_10",
        "question": "Q2",
        "value": 9,
        "baseline": 5,
        "hours": 50.4,
        "session": 1,
    },
)
SITE_SOON = Finding(
    tier=Tier.SOON,
    reason_key="site_infection_signs",
    reasons=("Swelling or pus at a needle site",),
    stops_checkin=False,
    fact={
        "reason": "site_infection_signs",
        "question": "Q3",
        "site": "swelling_or_pus",
        "hours": 26.0,
        "session": 1,
    },
)
CAUDA_URGENT = Finding(
    tier=Tier.URGENT,
    reason_key="q6_cauda_equina",
    reasons=("Q6 = Yes",),
    stops_checkin=True,
    emergency=True,
    fact={"reason": "q6_cauda_equina", "question": "Q6", "hours": 5.0, "session": 1},
)


async def clinic(sessions: SessionFactory) -> Patient:
    async with sessions() as db:
        for tg, role, name in (
            (THEO, Role.THERAPIST, "Theo"),
            (OLGA, Role.THERAPIST, "Olga"),
            (ADA, Role.ADMIN, "Ada"),
            (3000, Role.STAFF, "Sam"),
        ):
            db.add(StaffMember(tg_user_id=tg, role=role, name=name, created_at=MONDAY_10))
        await db.commit()
        theo = (await db.exec(select(StaffMember).where(StaffMember.tg_user_id == THEO))).one()
        assert theo.id is not None
        patient = Patient(
            display_name="Zoë",
            therapist_id=theo.id,
            status=PatientStatus.ACTIVE,
            tg_user_id=4000,
            baseline_pain=5,
            created_at=MONDAY_10,
        )
        db.add(patient)
        await db.commit()
        return patient


async def raise_(
    sessions: SessionFactory, *findings: Finding, now: datetime, policy: AlertPolicy = POLICY
) -> list[Alert]:
    async with sessions() as db:
        patient = await db.get(Patient, 1)
        assert patient is not None
        raised = await raise_findings(db, policy, patient=patient, findings=list(findings), now=now)
        await db.commit()
        return raised


async def pushes(sessions: SessionFactory, since: datetime, kind: str = "alert") -> list[int]:
    """The chats an alert row (or notice) was queued for since `since`."""
    async with sessions() as db:
        found = await db.exec(
            select(OutboxMessage)
            .where(OutboxMessage.kind == kind, col(OutboxMessage.created_at) >= since)
            .order_by(col(OutboxMessage.id))
        )
        return [row.chat_id for row in found.all()]
