"""Staff, therapists and admins: who they are and how they join by invitation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import BigInteger, bindparam, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from care import audit
from care.tokens import hash_token, new_token
from store.models import LinkToken, Patient, Role, StaffMember

INVITABLE_ROLES = (Role.STAFF, Role.THERAPIST)


async def staff_by_tg(db: AsyncSession, tg_user_id: int) -> StaffMember | None:
    result = await db.exec(select(StaffMember).where(StaffMember.tg_user_id == tg_user_id))
    return result.first()


_PROBE = sa_select(bindparam("tg", type_=BigInteger).label("tg")).subquery()
# built once: a tap pays for sending it, not for building it again
_PERSON = (
    select(StaffMember, Patient)
    .select_from(_PROBE)
    .outerjoin(StaffMember, col(StaffMember.tg_user_id) == _PROBE.c.tg)
    .outerjoin(Patient, col(Patient.tg_user_id) == _PROBE.c.tg)
)


async def person_by_tg(
    db: AsyncSession, tg_user_id: int
) -> tuple[StaffMember | None, Patient | None]:
    """The staff record and the patient record of a Telegram account, in one query.

    Every update needs to know who sent it; one round trip instead of two keeps the
    busiest path (a patient's tap) short.
    """
    row = (await db.exec(_PERSON, params={"tg": tg_user_id})).first()
    return (row[0], row[1]) if row is not None else (None, None)


#: last activity is written at most this often per person (not a write per update)
SEEN_EVERY = timedelta(minutes=5)


async def sync_admin_role(
    db: AsyncSession,
    staff: StaffMember | None,
    *,
    tg_user_id: int,
    listed: bool,
    name: str,
    language: str,
    now: datetime,
) -> tuple[StaffMember | None, bool]:
    """`ADMIN_IDS` is authoritative at every contact: someone listed is an active admin,
    someone no longer listed loses the admin role (back to the role they had before it, or
    no access at all). Returns (member, whether their role changed: their menu must too)."""
    if listed:
        if staff is not None and staff.role == Role.ADMIN and staff.active:
            return staff, False
        member, _ = await ensure_admin(
            db, tg_user_id=tg_user_id, name=name, language=language, now=now
        )
        return member, True
    if staff is None or staff.role != Role.ADMIN or not staff.active:
        return staff, False
    back = staff.role_before_admin
    values: dict[str, object] = (
        {"role": back, "role_before_admin": None}
        if back
        else {"active": False, "deactivated_at": now, "deactivated_by": None}
    )
    taken = await db.exec(
        update(StaffMember)
        .where(
            col(StaffMember.id) == staff.id,
            col(StaffMember.role) == Role.ADMIN,
            col(StaffMember.active).is_(True),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount == 1:  # another instance may have demoted them a moment ago
        audit.record(
            db,
            now=now,
            action="admin_demoted",
            actor_kind="system",
            subject_kind="staff",
            subject_id=staff.id,
            role=back or "none",
        )
    await db.commit()
    await db.refresh(staff)
    return staff, True


async def seen(db: AsyncSession, staff: StaffMember, now: datetime) -> None:
    """Record their last activity, at most once per `SEEN_EVERY` (one conditional write)."""
    if staff.last_seen_at is not None and now - staff.last_seen_at < SEEN_EVERY:
        return
    await db.exec(
        update(StaffMember)
        .where(
            col(StaffMember.id) == staff.id,
            or_(
                col(StaffMember.last_seen_at).is_(None),
                col(StaffMember.last_seen_at) < now - SEEN_EVERY,
            ),
        )
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )
    await db.commit()
    staff.last_seen_at = now


async def speak_clinic_language(db: AsyncSession, staff: StaffMember, lang: str) -> bool:
    """Staff read the clinic's language (CLINIC_LOCALE), whatever their phone's: set it on
    their record when it differs (one conditional write; a no-op on every later contact).
    True when it changed (their command menu is then set again, in that language)."""
    if staff.language == lang:
        return False
    await db.exec(
        update(StaffMember)
        .where(col(StaffMember.id) == staff.id, col(StaffMember.language) != lang)
        .values(language=lang)
        .execution_options(synchronize_session=False)
    )
    await db.commit()
    staff.language = lang
    return True


async def refused_inactive(
    db: AsyncSession, staff: StaffMember, *, what: str, now: datetime
) -> None:
    """A deactivated person tried a command or a button: nothing happens but this record."""
    audit.record(
        db,
        now=now,
        action="inactive_refused",
        actor_kind="staff",
        actor_id=staff.id,
        subject_kind="staff",
        subject_id=staff.id,
        what=what,
    )
    await db.commit()


async def ensure_admin(
    db: AsyncSession, *, tg_user_id: int, name: str, language: str, now: datetime
) -> tuple[StaffMember, bool]:
    """Register an `ADMIN_IDS` user on first contact; returns (member, created). One
    commit, and only when something changed (it runs on every update of an admin)."""
    member = await staff_by_tg(db, tg_user_id)
    if member is not None and member.role == Role.ADMIN and member.active:
        return member, False
    if member is None:
        member = StaffMember(
            tg_user_id=tg_user_id,
            role=Role.ADMIN,
            name=name[:128],
            language=language,
            created_at=now,
        )
        db.add(member)
        await db.flush()
        created, action, actor_kind, actor_id = True, "admin_registered", "staff", member.id
    else:
        if member.role != Role.ADMIN:
            member.role_before_admin = member.role
        member.role = Role.ADMIN
        member.active = True
        member.deactivated_at = member.deactivated_by = None
        created, action, actor_kind, actor_id = False, "admin_promoted", "system", None
    audit.record(
        db,
        now=now,
        action=action,
        actor_kind=actor_kind,
        actor_id=actor_id,
        subject_kind="staff",
        subject_id=member.id,
    )
    await db.commit()
    return member, created


async def therapists(db: AsyncSession) -> list[StaffMember]:
    result = await db.exec(
        select(StaffMember)
        .where(StaffMember.role == Role.THERAPIST, col(StaffMember.active).is_(True))
        .order_by(col(StaffMember.name), col(StaffMember.id))
    )
    return list(result.all())


async def create_invite(
    db: AsyncSession, *, admin: StaffMember, role: Role, now: datetime, ttl: timedelta
) -> str:
    """A one-time invitation for a new staff member or therapist; returns the token."""
    if role not in INVITABLE_ROLES:
        raise ValueError(f"cannot invite role {role}")
    token, digest = new_token()
    link = LinkToken(
        token_hash=digest,
        kind="invite",
        role=role,
        created_by=admin.id,
        created_at=now,
        expires_at=now + ttl,
    )
    db.add(link)
    await db.flush()
    audit.record(
        db,
        now=now,
        action="invite_created",
        actor_kind="staff",
        actor_id=admin.id,
        subject_kind="link",
        subject_id=link.id,
        role=str(role),
    )
    await db.commit()
    return token


class InviteOutcome(StrEnum):
    REGISTERED = "registered"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    ALREADY_STAFF = "already_staff"
    IS_PATIENT = "is_patient"


@dataclass(frozen=True)
class InviteResult:
    outcome: InviteOutcome
    member: StaffMember | None = None


async def find_link(db: AsyncSession, token: str) -> LinkToken | None:
    result = await db.exec(select(LinkToken).where(LinkToken.token_hash == hash_token(token)))
    return result.first()


async def redeem_invite(
    db: AsyncSession,
    link: LinkToken,
    *,
    tg_user_id: int,
    name: str,
    language: str,
    now: datetime,
) -> InviteResult:
    """Register the opener with the invited role, once. Anything else changes nothing."""
    if link.used_at is not None:
        return InviteResult(InviteOutcome.USED)
    if link.expires_at <= now:
        return InviteResult(InviteOutcome.EXPIRED)
    existing = await staff_by_tg(db, tg_user_id)
    if existing is not None:
        return InviteResult(InviteOutcome.ALREADY_STAFF, existing)
    patient = (await db.exec(select(Patient).where(Patient.tg_user_id == tg_user_id))).first()
    if patient is not None:
        return InviteResult(InviteOutcome.IS_PATIENT)
    assert link.role is not None
    taken = await db.exec(  # two openers at once: whoever spends the link first is registered
        update(LinkToken)
        .where(col(LinkToken.id) == link.id, col(LinkToken.used_at).is_(None))
        .values(used_at=now, bound_tg_user_id=tg_user_id)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # the other one won: answered as a late opener (invariant 9)
        return InviteResult(InviteOutcome.USED)
    member = StaffMember(
        tg_user_id=tg_user_id,
        role=link.role,
        name=name[:128],
        language=language,
        created_at=now,
    )
    db.add(member)
    link.used_at = now
    link.bound_tg_user_id = tg_user_id
    await db.flush()
    audit.record(
        db,
        now=now,
        action="staff_registered",
        actor_kind="staff",
        actor_id=member.id,
        subject_kind="staff",
        subject_id=member.id,
        role=link.role,
        invited_by=link.created_by,
    )
    await db.commit()
    return InviteResult(InviteOutcome.REGISTERED, member)
