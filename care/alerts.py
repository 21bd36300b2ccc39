"""Clinical alerts: raised with the answer that caused them, one card per answer, escalated
until someone answers, and edited everywhere they were shown when their state changes.

Every push goes through the outbox in the transaction that decided it, so an alert is
never lost to a crash between "decided" and "sent" (invariant 1 and 8).

The data model (issue 10, "One card per answer"):

- All pushed findings (SOON, URGENT-callback, URGENT) of one `raise_findings` call become
  ONE alert: `reason_key` is the key of its most severe finding, `reason_keys` every
  finding's key, `reasons` every line shown on the card (each finding's plain words, and a
  passed message's words), and the highest tier decides the card's tier and buttons.
- A patient has at most one *open* pushed alert. A later pushed finding while it is open
  and no more than `new_alert_after_days` (3) after it was raised updates that card —
  its lines are added, never replaced, every copy is edited — AND notifies: a short
  message replying to each shown copy with the new lines (never a silent edit). Later
  than that, the old alert is closed as SUPERSEDED and a new alert is pushed.
- ROUTINE findings stay one alert per reason (the digest lists them, then closes them).

The lifecycle: URGENT climbs the ladder (ESCALATION_MINUTES steps, then every
`urgent_repeat_hours`, to every active therapist and admin) until acknowledged.
Acknowledge and "Call back done" are separate steps: a callback alert is ACKNOWLEDGED
(ladder stopped, card shows who) and CLOSED by "Call back done" (who, when, audited); one
not done within `callback_within_hours` of opening hours is re-sent to its therapist and
to the other therapists and admins. Unacknowledged pushed alerts are re-sent once per
opening day, at the clinic's opening (a marker row in `app_state` per alert and day, so
several instances send it once). An alert whose therapist is inactive or unreachable
(Telegram answered 403) goes to the other therapists and the admins instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care import audit
from flows.opening import OpeningHours
from flows.protocol import AlertRules, Protocol
from flows.triage import Finding, Tier
from store import outbox
from store.models import (
    Alert,
    AlertCopy,
    AlertState,
    AppState,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    Patient,
    Role,
    StaffMember,
)

PUSHED_TIERS = (Tier.URGENT, Tier.URGENT_CALLBACK, Tier.SOON)
URGENT_TIERS = (Tier.URGENT, Tier.URGENT_CALLBACK)
#: States in which an alert may still wait for someone (a callback after Acknowledge).
WAITING = (AlertState.OPEN, AlertState.ACKNOWLEDGED)
_DEFAULT_RULES = AlertRules()


def waiting(alert: Alert) -> bool:
    """Nobody has acknowledged it yet, or it is a callback not yet marked done."""
    if alert.state == AlertState.OPEN:
        return True
    return (
        alert.state == AlertState.ACKNOWLEDGED
        and Tier(alert.tier) == Tier.URGENT_CALLBACK
        and alert.called_back_at is None
    )


@dataclass(frozen=True)
class AlertPolicy:
    """The clinic's escalation settings (ESCALATION_MINUTES, alert group) and the
    protocol's alert rules ([alerts], [triage] callback_within_hours)."""

    escalation_minutes: tuple[int, ...] = (15, 60)
    alert_chat_id: int | None = None
    urgent_repeat_hours: float = _DEFAULT_RULES.urgent_repeat_hours
    new_alert_after_days: float = _DEFAULT_RULES.new_alert_after_days
    callback_within_hours: float = 2
    opening_hours: OpeningHours = _DEFAULT_RULES.opening_hours
    clinic_tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    @classmethod
    def of(
        cls,
        protocol: Protocol,
        *,
        escalation_minutes: tuple[int, ...],
        alert_chat_id: int | None,
        clinic_tz: ZoneInfo,
    ) -> AlertPolicy:
        rules = protocol.alerts
        return cls(
            escalation_minutes=escalation_minutes,
            alert_chat_id=alert_chat_id,
            urgent_repeat_hours=rules.urgent_repeat_hours,
            new_alert_after_days=rules.new_alert_after_days,
            callback_within_hours=protocol.triage.callback_within_hours,
            opening_hours=rules.opening_hours,
            clinic_tz=clinic_tz,
        )

    def step_offset(self, level: int) -> timedelta | None:
        """How long after the alert ladder step `level` (1, 2, …) is due; None: no such step."""
        steps = self.escalation_minutes
        if 1 <= level <= len(steps):
            return timedelta(minutes=steps[level - 1])
        if level < 1 or self.urgent_repeat_hours <= 0:
            return None
        last = timedelta(minutes=steps[-1]) if steps else timedelta(0)
        return last + timedelta(hours=self.urgent_repeat_hours) * (level - len(steps))

    def callback_due(self, raised: datetime) -> datetime:
        return self.opening_hours.add_open_time(
            raised, timedelta(hours=self.callback_within_hours), self.clinic_tz
        )

    @property
    def new_alert_after(self) -> timedelta:
        return timedelta(days=self.new_alert_after_days)


def _alert_row(
    alert: Alert, chat_id: int, now: datetime, *, staff_id: int | None, **payload: object
) -> OutboxMessage:
    return OutboxMessage(
        kind=OutboxKind.ALERT,
        chat_id=chat_id,
        patient_id=alert.patient_id,
        staff_id=staff_id,
        alert_id=alert.id,
        urgent=alert.tier in URGENT_TIERS,
        due_at=now,
        created_at=now,
        payload={"level": 0, **payload},
    )


def reachable(person: StaffMember | None) -> bool:
    return person is not None and person.active and person.unreachable_at is None


async def everyone(db: AsyncSession, *, but: int | None = None) -> list[StaffMember]:
    """Every reachable active therapist and admin (but one), by id."""
    people = await db.exec(
        select(StaffMember)
        .where(
            col(StaffMember.role).in_([Role.THERAPIST, Role.ADMIN]),
            col(StaffMember.active).is_(True),
            col(StaffMember.unreachable_at).is_(None),
        )
        .order_by(col(StaffMember.id))
    )
    return [p for p in people.all() if p.id != but]


async def recipients(db: AsyncSession, alert: Alert) -> list[StaffMember]:
    """The treating therapist; if inactive or unreachable, the other therapists and the
    admins instead (an alert with nowhere to go is never silently dropped)."""
    therapist = await db.get(StaffMember, alert.therapist_id)
    if therapist is not None and reachable(therapist):
        return [therapist]
    return await everyone(db, but=alert.therapist_id)


async def _push(
    db: AsyncSession,
    policy: AlertPolicy,
    alert: Alert,
    people: list[StaffMember],
    now: datetime,
    *,
    group: bool,
    **payload: object,
) -> None:
    for person in people:
        db.add(_alert_row(alert, person.tg_user_id, now, staff_id=person.id, **payload))
    if group and policy.alert_chat_id is not None:
        db.add(_alert_row(alert, policy.alert_chat_id, now, staff_id=None, **payload))


def _lines(findings: list[Finding]) -> list[str]:
    lines: list[str] = []
    for finding in sorted(findings, key=lambda f: Tier(f.tier), reverse=True):
        lines += [line for line in finding.reasons if line not in lines]
    return lines


def _facts(findings: list[Finding]) -> list[dict[str, object]]:
    """Each finding's facts, most severe first, each once (the card's sentences)."""
    facts: list[dict[str, object]] = []
    for finding in sorted(findings, key=lambda f: Tier(f.tier), reverse=True):
        if finding.fact and finding.fact not in facts:
            facts.append(dict(finding.fact))
    return facts


def _start_clocks(alert: Alert, policy: AlertPolicy, now: datetime) -> None:
    """Set the ladder (URGENT) and the callback deadline (URGENT-callback) from `now`."""
    tier = Tier(alert.tier)
    first = policy.step_offset(1)
    if tier == Tier.URGENT and first is not None and alert.next_escalation_at is None:
        alert.escalation_level = 0
        alert.next_escalation_at = now + first
    if tier == Tier.URGENT_CALLBACK and alert.callback_due_at is None:
        alert.callback_due_at = policy.callback_due(now)


async def open_card_of(db: AsyncSession, patient_id: int) -> Alert | None:
    """The patient's open pushed alert (at most one; the newest if a race made two)."""
    result = await db.exec(
        select(Alert)
        .where(
            Alert.patient_id == patient_id,
            Alert.state == AlertState.OPEN,
            col(Alert.tier).in_([str(t) for t in PUSHED_TIERS]),
        )
        .order_by(col(Alert.created_at).desc(), col(Alert.id).desc())
    )
    return result.first()


async def raise_findings(
    db: AsyncSession,
    policy: AlertPolicy,
    *,
    patient: Patient,
    findings: list[Finding],
    now: datetime,
) -> list[Alert]:
    """Store the findings of one answer: the pushed ones as ONE card (or an update of the
    patient's open card, with a notice), routine ones per reason for the digest; queue
    their messages. The caller commits, together with the answer that caused it."""
    assert patient.id is not None
    raised: list[Alert] = []
    for finding in findings:
        if Tier(finding.tier) not in PUSHED_TIERS:
            raised.append(await _routine(db, patient, finding, now))
    pushed = [f for f in findings if Tier(f.tier) in PUSHED_TIERS]
    if pushed:
        raised.append(await _card(db, policy, patient, pushed, now))
    return raised


async def _routine(db: AsyncSession, patient: Patient, finding: Finding, now: datetime) -> Alert:
    existing = (
        await db.exec(
            select(Alert).where(
                Alert.patient_id == patient.id,
                Alert.reason_key == finding.reason_key,
                Alert.state == AlertState.OPEN,
            )
        )
    ).first()
    if existing is not None:
        existing.reasons = list(finding.reasons)
        existing.facts = _facts([finding])
        existing.occurrences += 1
        existing.updated_at = now
        return existing
    assert patient.id is not None
    alert = Alert(
        patient_id=patient.id,
        therapist_id=patient.therapist_id,
        tier=Tier.ROUTINE,
        reason_key=finding.reason_key,
        reason_keys=[finding.reason_key],
        reasons=list(finding.reasons),
        facts=_facts([finding]),
        created_at=now,
        updated_at=now,
    )
    db.add(alert)
    await db.flush()
    _audit_raised(db, alert, now)
    return alert


def _audit_raised(db: AsyncSession, alert: Alert, now: datetime) -> None:
    audit.record(
        db,
        now=now,
        action="alert_raised",
        actor_kind="system",
        subject_kind="alert",
        subject_id=alert.id,
        patient_id=alert.patient_id,
        tier=str(alert.tier),
        reason=alert.reason_key,
        reasons=list(alert.reason_keys),
    )


async def _card(
    db: AsyncSession, policy: AlertPolicy, patient: Patient, findings: list[Finding], now: datetime
) -> Alert:
    assert patient.id is not None
    top = max(findings, key=lambda f: Tier(f.tier))
    tier = Tier(top.tier)
    keys = list(dict.fromkeys(f.reason_key for f in findings))
    existing = await open_card_of(db, patient.id)
    if existing is not None and now - existing.created_at <= policy.new_alert_after:
        return await _update_card(db, policy, existing, findings, keys, now)
    if existing is not None:  # a repeat long after: a new alert, the old one superseded
        existing.state, existing.updated_at = AlertState.SUPERSEDED, now
        existing.next_escalation_at = None
        await db.flush()
        await _cancel_pending_pushes(db, existing, "superseded")
        await queue_copy_edits(db, existing, now)
        audit.record(
            db,
            now=now,
            action="alert_superseded",
            actor_kind="system",
            subject_kind="alert",
            subject_id=existing.id,
        )
    alert = Alert(
        patient_id=patient.id,
        therapist_id=patient.therapist_id,
        tier=tier,
        reason_key=top.reason_key,
        reason_keys=keys,
        reasons=_lines(findings),
        facts=_facts(findings),
        created_at=now,
        updated_at=now,
    )
    _start_clocks(alert, policy, now)
    db.add(alert)
    await db.flush()
    await _push(db, policy, alert, await recipients(db, alert), now, group=tier == Tier.URGENT)
    _audit_raised(db, alert, now)
    return alert


async def _update_card(
    db: AsyncSession,
    policy: AlertPolicy,
    alert: Alert,
    findings: list[Finding],
    keys: list[str],
    now: datetime,
) -> Alert:
    """A later finding while the card is open: add its lines, edit every copy, and tell the
    same people with a short message pointing to the card."""
    before, facts_before = len(alert.reasons), len(alert.facts)
    lines = [line for line in _lines(findings) if line not in alert.reasons]
    alert.reasons = [*alert.reasons, *lines]
    alert.facts = [*alert.facts, *(f for f in _facts(findings) if f not in alert.facts)]
    alert.reason_keys = list(dict.fromkeys([*alert.reason_keys, *keys]))
    alert.occurrences += 1
    alert.updated_at = now
    old_tier, top = Tier(alert.tier), max(Tier(f.tier) for f in findings)
    if top > old_tier:
        alert.tier = top
        alert.reason_key = max(findings, key=lambda f: Tier(f.tier)).reason_key
        _start_clocks(alert, policy, now)
    await db.flush()
    await queue_copy_edits(db, alert, now)
    copies = list((await db.exec(select(AlertCopy).where(AlertCopy.alert_id == alert.id))).all())
    latest: dict[int, AlertCopy] = {}
    for copy in copies:
        if copy.chat_id not in latest or copy.message_id > latest[copy.chat_id].message_id:
            latest[copy.chat_id] = copy
    # only people who still take alerts (and the clinic's group) are told; a therapist who
    # left or blocked the bot is not, and if nobody is left the card goes to the others
    owners = {
        person.tg_user_id: person
        for person in (
            await db.exec(select(StaffMember).where(col(StaffMember.tg_user_id).in_(list(latest))))
        ).all()
    }
    latest = {
        chat: copy
        for chat, copy in latest.items()
        if chat == policy.alert_chat_id or reachable(owners.get(chat))
    }
    for copy in latest.values():
        db.add(
            OutboxMessage(
                kind=OutboxKind.ALERT_NOTICE,
                chat_id=copy.chat_id,
                patient_id=alert.patient_id,
                alert_id=alert.id,
                urgent=True,
                due_at=now,
                created_at=now,
                payload={"copy_id": copy.id, "from": before, "facts_from": facts_before},
            )
        )
    pending = (
        await db.exec(
            select(OutboxMessage.id).where(
                OutboxMessage.alert_id == alert.id,
                OutboxMessage.kind == OutboxKind.ALERT,
                col(OutboxMessage.state).in_([OutboxState.PENDING, OutboxState.CLAIMED]),
            )
        )
    ).first()
    told = any(chat in owners for chat in latest)
    if not told and pending is None:  # shown to nobody who takes alerts now: push it
        await _push(db, policy, alert, await recipients(db, alert), now, group=False)
    if top == Tier.URGENT and old_tier != Tier.URGENT:  # it became an emergency: the group too
        await _push(db, policy, alert, [], now, group=True)
    audit.record(
        db,
        now=now,
        action="alert_updated",
        actor_kind="system",
        subject_kind="alert",
        subject_id=alert.id,
        tier=str(alert.tier),
        reasons=keys,
    )
    return alert


async def _cancel_pending_pushes(db: AsyncSession, alert: Alert, why: str) -> None:
    await outbox.cancel_queued(
        db,
        col(OutboxMessage.alert_id) == alert.id,
        col(OutboxMessage.kind).in_([OutboxKind.ALERT, OutboxKind.ALERT_NOTICE]),
        reason=why,
        claimed_too=False,
    )


def queue_copy_edit(db: AsyncSession, alert: Alert, copy: AlertCopy, now: datetime) -> None:
    """Bring one shown copy of `alert` up to date (through the outbox, so it is not lost)."""
    db.add(
        OutboxMessage(
            kind=OutboxKind.ALERT_EDIT,
            chat_id=copy.chat_id,
            patient_id=alert.patient_id,
            alert_id=alert.id,
            urgent=True,
            due_at=now,
            created_at=now,
            payload={"copy_id": copy.id},
        )
    )


async def queue_copy_edits(db: AsyncSession, alert: Alert, now: datetime) -> None:
    copies = await db.exec(select(AlertCopy).where(AlertCopy.alert_id == alert.id))
    for copy in copies.all():
        queue_copy_edit(db, alert, copy, now)


async def record_copy(db: AsyncSession, *, alert_id: int, chat_id: int, message_id: int) -> None:
    db.add(AlertCopy(alert_id=alert_id, chat_id=chat_id, message_id=message_id))


async def record_shown(
    db: AsyncSession, *, alert_id: int, chat_id: int, message_id: int, now: datetime
) -> None:
    """A repost of the card (/alerts, History) is a copy too: its state must follow. If the
    alert changed while the repost was on its way, the repost is brought up to date."""
    known = (
        await db.exec(
            select(AlertCopy).where(
                AlertCopy.alert_id == alert_id,
                AlertCopy.chat_id == chat_id,
                AlertCopy.message_id == message_id,
            )
        )
    ).first()
    if known is None:
        await record_copy(db, alert_id=alert_id, chat_id=chat_id, message_id=message_id)
    await db.commit()


#: An URGENT alert on the ladder: nobody has acknowledged it and a next step is planned.
_ESCALATING = (Alert.state == AlertState.OPEN, col(Alert.next_escalation_at).is_not(None))
#: A callback alert whose "Call back done" has a deadline that has not been met yet.
_CALLBACK_WAITING = (
    col(Alert.state).in_(list(WAITING)),
    col(Alert.called_back_at).is_(None),
    col(Alert.callback_due_at).is_not(None),
)


async def next_escalation(db: AsyncSession) -> datetime | None:
    """When escalate_due will next have something to do (None: no alert is waiting).

    The same conditions escalate_due applies, so "what happens next" and what happens agree."""
    ladder = (await db.exec(select(func.min(Alert.next_escalation_at)).where(*_ESCALATING))).first()
    callback = (
        await db.exec(select(func.min(Alert.callback_due_at)).where(*_CALLBACK_WAITING))
    ).first()
    moments = [m for m in (ladder, callback) if m is not None]
    return min(moments) if moments else None


async def escalate_due(db: AsyncSession, policy: AlertPolicy, *, now: datetime) -> int:
    """The ladder and the callback deadline.

    An URGENT alert nobody acknowledged goes again, to every reachable therapist and admin
    (and the alert group), at each ESCALATION_MINUTES step and then every
    `urgent_repeat_hours`. A callback alert not marked done by its deadline (opening hours)
    goes again to its therapist and to the other therapists and admins, once. Safe with
    several instances: a step is taken by whoever moves the row first."""
    due = await db.exec(select(Alert).where(*_ESCALATING, col(Alert.next_escalation_at) <= now))
    steps = 0
    for alert in list(due.all()):
        assert alert.next_escalation_at is not None
        level = alert.escalation_level + 1
        this, following = policy.step_offset(level), policy.step_offset(level + 1)
        next_at = (
            alert.next_escalation_at + (following - this)
            if this is not None and following is not None
            else None
        )
        taken = await db.exec(
            update(Alert)
            .where(col(Alert.id) == alert.id, col(Alert.escalation_level) == level - 1)
            .values(escalation_level=level, next_escalation_at=next_at, updated_at=now)
        )
        if taken.rowcount != 1:
            continue  # another instance took this step
        await _push(db, policy, alert, await everyone(db), now, group=True, level=level)
        audit.record(
            db,
            now=now,
            action="alert_escalated",
            actor_kind="system",
            subject_kind="alert",
            subject_id=alert.id,
            level=level,
        )
        steps += 1
    overdue = await db.exec(
        select(Alert).where(*_CALLBACK_WAITING, col(Alert.callback_due_at) <= now)
    )
    for alert in list(overdue.all()):
        taken = await db.exec(
            update(Alert)
            .where(col(Alert.id) == alert.id, col(Alert.callback_due_at) == alert.callback_due_at)
            .values(callback_due_at=None, updated_at=now)
        )
        if taken.rowcount != 1:
            continue
        therapist = await db.get(StaffMember, alert.therapist_id)
        people = [therapist] if therapist is not None and reachable(therapist) else []
        people += await everyone(db, but=alert.therapist_id)
        await _push(db, policy, alert, people, now, group=False, callback_overdue=True)
        audit.record(
            db,
            now=now,
            action="alert_callback_overdue",
            actor_kind="system",
            subject_kind="alert",
            subject_id=alert.id,
        )
        steps += 1
    await db.commit()
    return steps


async def resend_at_opening(db: AsyncSession, policy: AlertPolicy, *, now: datetime) -> int:
    """Re-send, once per opening day, every unacknowledged pushed alert raised before the
    clinic opened today (overnight, a weekend, or yesterday and still unread).

    Runs in opening hours only. The day's marker row in `app_state` (a primary key) lets
    exactly one instance re-send each alert. A named sequence of units of work, one per
    alert (marker, copies, audit): a marker another instance wrote first rolls back that
    alert alone, and a kill mid-sweep keeps the alerts already re-sent."""
    tz = policy.clinic_tz
    if not policy.opening_hours.is_open(now, tz):
        return 0
    opened = policy.opening_hours.opening_of(now.astimezone(tz).date(), tz)
    assert opened is not None
    waiting = await db.exec(
        select(Alert)
        .where(
            Alert.state == AlertState.OPEN,
            col(Alert.tier).in_([str(t) for t in PUSHED_TIERS]),
            col(Alert.created_at) < opened,
        )
        .order_by(col(Alert.created_at))
    )
    alerts = list(waiting.all())
    for alert in alerts:
        db.expunge(alert)  # a lost race rolls back, which would expire it (lazy IO)
    sent = 0
    day = opened.date().isoformat()
    for alert in alerts:
        key = f"alert_resend:{alert.id}:{day}"
        if await db.get(AppState, key) is not None:
            continue
        db.add(AppState(key=key, value="sent"))
        people = await recipients(db, alert)
        await _push(
            db, policy, alert, people, now, group=Tier(alert.tier) == Tier.URGENT, resent=True
        )
        audit.record(
            db,
            now=now,
            action="alert_resent",
            actor_kind="system",
            subject_kind="alert",
            subject_id=alert.id,
        )
        try:
            await db.commit()
        except IntegrityError:  # another instance re-sent it first
            await db.rollback()
            continue
        sent += 1
    return sent


async def staff_unreachable(
    db: AsyncSession, policy: AlertPolicy, *, staff_id: int, alert_id: int | None, now: datetime
) -> None:
    """Telegram answered 403 for a staff member: record it, and send the alert that could not
    reach them to the other therapists and admins instead."""
    person = await db.get(StaffMember, staff_id)
    if person is None:
        return
    if person.unreachable_at is None:
        person.unreachable_at = now
        audit.record(
            db,
            now=now,
            action="staff_unreachable",
            actor_kind="system",
            subject_kind="staff",
            subject_id=staff_id,
        )
    alert = await db.get(Alert, alert_id) if alert_id else None
    if alert is not None and waiting(alert):
        others = [p for p in await everyone(db) if p.id != staff_id]
        await _push(db, policy, alert, others, now, group=False, rerouted=True)
    await db.commit()


async def waiting_alerts_of(db: AsyncSession, therapist_id: int) -> list[Alert]:
    """Pushed alerts of one therapist's patients still waiting for someone."""
    result = await db.exec(
        select(Alert)
        .where(
            Alert.therapist_id == therapist_id,
            col(Alert.tier).in_([str(t) for t in PUSHED_TIERS]),
            col(Alert.state).in_(list(WAITING)),
        )
        .order_by(col(Alert.created_at), col(Alert.id))
    )
    return [alert for alert in result.all() if waiting(alert)]


async def reroute_waiting(
    db: AsyncSession, policy: AlertPolicy, *, therapist_id: int, now: datetime
) -> int:
    """Their therapist left (deactivated): every alert of theirs still waiting goes to the
    people `recipients` now names for it (the other therapists and the admins). The caller
    has made them inactive in this transaction and commits."""
    alerts = await waiting_alerts_of(db, therapist_id)
    for alert in alerts:
        await _push(db, policy, alert, await recipients(db, alert), now, group=False, rerouted=True)
    return len(alerts)


async def staff_reachable_again(db: AsyncSession, staff: StaffMember) -> None:
    """They wrote to the bot: Telegram delivers to them again."""
    if staff.unreachable_at is None:
        return
    await db.exec(
        update(StaffMember).where(col(StaffMember.id) == staff.id).values(unreachable_at=None)
    )
    await db.commit()
    staff.unreachable_at = None


class AckOutcome(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    CALLED_BACK = "called_back"
    ALREADY = "already"
    REFUSED = "refused"


@dataclass(frozen=True)
class AckResult:
    outcome: AckOutcome
    alert: Alert | None = None
    by: StaffMember | None = None


async def may_see(db: AsyncSession, staff: StaffMember, alert: Alert) -> bool:
    """Own patients' alerts; admins see all; whoever was sent a copy (the ladder, a
    re-routed alert) too."""
    if not staff.active:
        return False
    if staff.role == Role.ADMIN or alert.therapist_id == staff.id:
        return True
    if staff.role != Role.THERAPIST:
        return False
    copy = await db.exec(
        select(AlertCopy).where(
            AlertCopy.alert_id == alert.id, AlertCopy.chat_id == staff.tg_user_id
        )
    )
    if copy.first() is not None:
        return True
    sent = await db.exec(
        select(OutboxMessage.id).where(
            OutboxMessage.alert_id == alert.id, OutboxMessage.staff_id == staff.id
        )
    )
    return sent.first() is not None


async def acknowledge(
    db: AsyncSession,
    *,
    alert_id: int,
    staff: StaffMember,
    now: datetime,
    called_back: bool = False,
) -> AckResult:
    """Acknowledge (stop the ladder) or record "Call back done" (close the alert); edit
    every copy. The two are separate steps: "Call back done" works before or after
    Acknowledge, and each is audited with who and when."""
    alert = await db.get(Alert, alert_id)
    if alert is None or not await may_see(db, staff, alert):
        return AckResult(AckOutcome.REFUSED)
    if called_back:
        if not waiting(alert):
            who = alert.called_back_by or alert.acknowledged_by
            by = await db.get(StaffMember, who) if who else None
            return AckResult(AckOutcome.ALREADY, alert, by)
        alert.state = AlertState.CLOSED
        alert.called_back_by, alert.called_back_at = staff.id, now
        alert.callback_due_at = None
        if alert.acknowledged_by is None:
            alert.acknowledged_by, alert.acknowledged_at = staff.id, now
    else:
        if alert.state != AlertState.OPEN:
            by = await db.get(StaffMember, alert.acknowledged_by) if alert.acknowledged_by else None
            return AckResult(AckOutcome.ALREADY, alert, by)
        # a callback alert stays waiting for "Call back done"; any other alert is dealt with
        alert.state = AlertState.ACKNOWLEDGED
        alert.acknowledged_by, alert.acknowledged_at = staff.id, now
    alert.next_escalation_at = None
    alert.updated_at = now
    await _cancel_pending_pushes(db, alert, "called back" if called_back else "acknowledged")
    await queue_copy_edits(db, alert, now)
    audit.record(
        db,
        now=now,
        action="alert_called_back" if called_back else "alert_acknowledged",
        actor_kind="staff",
        actor_id=staff.id,
        subject_kind="alert",
        subject_id=alert.id,
    )
    await db.commit()
    return AckResult(
        AckOutcome.CALLED_BACK if called_back else AckOutcome.ACKNOWLEDGED, alert, staff
    )


async def open_alerts_for(db: AsyncSession, staff: StaffMember) -> list[Alert]:
    """Pushed alerts this person may act on, oldest first: open ones, and callbacks
    acknowledged but not yet done."""
    query = select(Alert).where(
        col(Alert.tier).in_([str(t) for t in PUSHED_TIERS]),
        (col(Alert.state) == AlertState.OPEN)
        | (
            (col(Alert.state) == AlertState.ACKNOWLEDGED)
            & (col(Alert.tier) == str(Tier.URGENT_CALLBACK))
        ),
    )
    if staff.role != Role.ADMIN:
        query = query.where(Alert.therapist_id == staff.id)
    result = await db.exec(query.order_by(col(Alert.created_at), col(Alert.id)))
    return list(result.all())
