"""The sandbox's cast: four simulated people, and how they get their roles.

Roles are obtained through the real bot flow — the admin sends /invite, taps the
role, and the new person opens the one-time link — so the sandbox exercises the
same code a clinic's first day does, and everyone's command menu is the one the
bot sets. Only the clicking is automated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import select

from bot.texts import t
from care.people import staff_by_tg
from sandbox.botapi import FakeBotAPI, SentMessage, SimUser
from store.db import SessionFactory
from store.models import Patient, Role

STEP_TIMEOUT = 20.0
_START_PARAM = re.compile(r"\?start=([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class Person:
    """One simulated Telegram account and the pane that shows their chat."""

    key: str  # the pane: staff, patient, therapist, admin
    title: str
    user_id: int
    first_name: str
    last_name: str | None
    hint: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name


ADMIN = Person(
    "admin", "Admin", 1000, "Ada", "Admin", "Admin: /invite brings in more staff or therapists"
)
STAFF = Person("staff", "Front desk", 3000, "Sam", "Desk", "Front desk: type /enroll")
PATIENT = Person(
    "patient", "Patient", 4000, "Zoe", None, "Patient: tap the join link the front desk gets"
)
THERAPIST = Person(
    "therapist", "Therapist", 2000, "Theo", "Rapist", "Therapist: alerts arrive here"
)

CAST: tuple[Person, ...] = (STAFF, PATIENT, THERAPIST, ADMIN)
"""In the page's order: front desk, patient, therapist, then the admin's narrow pane."""


def sim_user(fake: FakeBotAPI, person: Person) -> SimUser:
    """The person's simulated account (created with their name on first use)."""
    return fake.user(person.user_id, person.first_name, last_name=person.last_name)


def start_param(link: str) -> str | None:
    """The payload of a `https://t.me/<bot>?start=<payload>` link."""
    match = _START_PARAM.search(link)
    return match.group(1) if match else None


async def _say(
    user: SimUser, text: str, predicate: Callable[[SentMessage], bool] | None = None
) -> SentMessage:
    """Send `text` and return the bot's first reply to it (that matches `predicate`)."""
    mark = user.mark()
    await user.send(text)
    return await user.wait_for(predicate, after=mark, timeout=STEP_TIMEOUT)


async def _invite(fake: FakeBotAPI, role: Role, person: SimUser) -> None:
    """Admin /invite → tap the role → the person opens the link and is registered."""
    admin = sim_user(fake, ADMIN)
    choose = await _say(admin, "/invite", lambda m: m.reply_markup is not None)
    mark = admin.mark()
    await admin.tap(choose, t(f"btn_role_{role}"))
    link = await admin.wait_for(lambda m: "start=" in m.text, after=mark, timeout=STEP_TIMEOUT)
    token = start_param(link.text)
    if token is None:
        raise RuntimeError("the invitation carried no link")
    await _say(person, f"/start {token}")


async def ensure_cast(fake: FakeBotAPI, sessions: SessionFactory) -> None:
    """Give the therapist and the front desk their roles, or greet them again.

    A database kept from an earlier run already knows them: each then sends
    /start, so this (fresh, in-memory) Bot API knows their chat again and the bot
    sets their menu. A patient who joined in an earlier run does the same.
    """
    admin = sim_user(fake, ADMIN)
    await _say(admin, "/start")  # admins are registered on first contact (ADMIN_IDS)
    for person, role in ((THERAPIST, Role.THERAPIST), (STAFF, Role.STAFF)):
        user = sim_user(fake, person)
        async with sessions() as db:
            known = await staff_by_tg(db, person.user_id)
        if known is None:
            await _invite(fake, role, user)
        else:
            await _say(user, "/start")
    async with sessions() as db:
        joined = (
            await db.exec(select(Patient).where(Patient.tg_user_id == PATIENT.user_id))
        ).first()
    if joined is not None:
        await _say(sim_user(fake, PATIENT), "/start")
