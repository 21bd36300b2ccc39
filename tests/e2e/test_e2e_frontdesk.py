"""What the front desk records and does (issue 14, items 7–11), end to end: the real
dispatcher against the strict fake Bot API, reading what the receptionist, the therapist
and the patient read."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakebot import FakeBotAPI
from tests.support.dbutil import snapshot
from tests.support.harness import Running, running_bot

STRANGER = 5000


@pytest.fixture
async def bot(fake: FakeBotAPI, sqlite_url: str) -> AsyncIterator[Running]:
    async with running_bot(fake, sqlite_url) as running:
        yield running


async def test_unknown_person_sending_a_staff_command_is_told_to_ask_an_admin(
    bot: Running, sqlite_url: str
) -> None:
    """Item 11: /enroll, /invite, /session … from someone not registered: where an
    invitation comes from, in their language; not the patients' "ask the front desk"."""
    fake = bot.fake
    before = await snapshot(sqlite_url)
    eve = fake.user(STRANGER, "Eve")
    for command in ("/enroll", "/invite", "/session", "/discharge", "/patients", "/alerts"):
        mark = eve.mark()
        await eve.send(command)
        reply = await eve.wait_for(after=mark)
        assert "ask a clinic admin for an invitation link" in reply.text, command
        assert "front desk" not in reply.text
    eva = fake.user(STRANGER + 1, "Eva", language_code="es")
    mark = eva.mark()
    await eva.send("/enroll@careloop_bot")
    reply = await eva.wait_for(after=mark)
    assert "Pida a un administrador de la clínica un enlace de invitación" in reply.text
    # a patient's kind of message still gets the introduction with the front desk
    mark = eve.mark()
    await eve.send("hello")
    assert "ask the front desk for your personal link" in (await eve.wait_for(after=mark)).text
    assert await snapshot(sqlite_url) == before
    assert fake.refused == []
