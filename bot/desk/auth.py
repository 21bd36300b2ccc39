"""Who is asking: the Mini App's `initData`, checked with the bot token, mapped to staff.

Telegram signs `initData` with a key derived from the bot token (aiogram's
`safe_parse_webapp_init_data` checks it). Data signed more than an hour ago is
refused, so a copied header stops working soon. The Telegram user must be active
staff; a patient, a stranger or a deactivated person gets 403 — the same answer for
all three, so the desk tells an outsider nothing about who is a patient.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiogram.utils.web_app import WebAppInitData, safe_parse_webapp_init_data
from sqlmodel.ext.asyncio.session import AsyncSession

from care.people import staff_by_tg
from store.models import Role, StaffMember

log = logging.getLogger(__name__)

MAX_AGE = timedelta(hours=1)
SCHEME = "tma "  # Authorization: tma <initData>
NO_INIT_DATA = "Open the desk from the bot's chat in Telegram."
BAD_SIGNATURE = "The desk could not tell who you are: open it again from the bot's chat."
EXPIRED = "The desk was opened more than an hour ago: close it and open it again."
#: who has the desk: therapists and admins (the queue, patients), the front desk and
#: admins (enrollment) — the same roles as the chat's therapist and enroll routers
THERAPIST_ROLES = (Role.THERAPIST, Role.ADMIN)
ENROLL_ROLES = (Role.STAFF, Role.ADMIN)
DESK_ROLES = (Role.THERAPIST, Role.ADMIN, Role.STAFF)


class DeskRefused(Exception):
    """The request is refused: `status` 401 (no or bad signature, too old) or 403."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Caller:
    """The staff member behind a request, and when their initData was signed."""

    staff: StaffMember
    signed_at: datetime


def verified_init_data(
    header: str | None, token: str, *, wall: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> WebAppInitData:
    """The initData of an `Authorization: tma …` header, signature and age checked."""
    if not header or not header.startswith(SCHEME):
        raise DeskRefused(401, NO_INIT_DATA)
    raw = header[len(SCHEME) :].strip()
    try:
        data = safe_parse_webapp_init_data(token, raw)
    except ValueError:  # a bad signature, or signed fields that do not parse
        log.info("desk: refused initData with a bad signature")
        raise DeskRefused(401, BAD_SIGNATURE) from None
    signed = data.auth_date if data.auth_date.tzinfo else data.auth_date.replace(tzinfo=UTC)
    age = wall() - signed
    if age > MAX_AGE or age < -timedelta(minutes=5):  # old, or from a clock far ahead
        raise DeskRefused(401, EXPIRED)
    if data.user is None:
        raise DeskRefused(403, "no user")
    return data


async def desk_caller(
    db: AsyncSession,
    header: str | None,
    token: str,
    *,
    admin_ids: frozenset[int],
    roles: tuple[Role, ...] = THERAPIST_ROLES,
    wall: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Caller:
    """The active staff member of `roles` the request comes from, or DeskRefused.

    `ADMIN_IDS` is authoritative as in the chat (bot/middlewares.py): an admin record
    whose id is no longer listed is not an admin here either."""
    data = verified_init_data(header, token, wall=wall)
    assert data.user is not None
    staff = await staff_by_tg(db, data.user.id)
    if (
        staff is None
        or not staff.active
        or staff.role not in roles
        or (staff.role == Role.ADMIN and staff.tg_user_id not in admin_ids)
    ):
        log.info("desk: refused a Telegram user who is not active desk staff")
        raise DeskRefused(403, "not available to you")
    return Caller(staff=staff, signed_at=data.auth_date)
