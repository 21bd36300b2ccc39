"""The sandbox without a browser: its cast, the clock controls, reset, and the page's guards."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlmodel import select

from sandbox.botapi import SentMessage, SimUser
from sandbox.people import ADMIN, PATIENT, STAFF, THERAPIST, sim_user
from sandbox.richtext import safe_html
from store.models import Alert, Patient, StaffMember
from tests.support.e2e import answer_until, is_emergency
from tests.support.harness import START
from tests.support.journey import enroll, join_and_consent
from tests.support.sandbox import RunningSandbox, running_sandbox, sandbox_config


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(sandbox_config(tmp_path)) as running:
        yield running


async def _all(running: RunningSandbox, model: type) -> list:  # type: ignore[type-arg]
    async with running.sandbox.bot().app.sessions() as db:
        return list((await db.exec(select(model))).all())


async def _enrolled_patient(running: RunningSandbox) -> None:
    fake = running.sandbox.fake
    token, _, _ = await enroll(
        fake, sim_user(fake, STAFF), name="Zoë", regions=("Upper back / chest wall",)
    )
    await join_and_consent(sim_user(fake, PATIENT), token)


async def test_the_cast_is_registered_through_the_bot_with_their_menus(
    running: RunningSandbox,
) -> None:
    fake = running.sandbox.fake
    roles = {m.tg_user_id: m.role for m in await _all(running, StaffMember)}
    assert roles == {ADMIN.user_id: "admin", THERAPIST.user_id: "therapist", STAFF.user_id: "staff"}
    assert "enroll" in [c["command"] for c in fake.commands[f"chat:{STAFF.user_id}"]]
    assert "alerts" in [c["command"] for c in fake.commands[f"chat:{THERAPIST.user_id}"]]
    assert any("registered" in m.text for m in sim_user(fake, THERAPIST).inbox)
    assert fake.refused == []


async def test_jump_brings_the_next_scheduled_message_now(running: RunningSandbox) -> None:
    sandbox = running.sandbox
    await _enrolled_patient(running)
    patient = sim_user(sandbox.fake, PATIENT)
    # session 1's aftercare goes at once, after the welcome; the next due is the check-in
    await patient.wait_for(lambda m: m.text.startswith("After your session 1"), after=0)
    due = await sandbox.next_due()
    assert due is not None and due > sandbox.clock.now()
    mark = patient.mark()
    assert await sandbox.jump() == due
    checkin = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    assert checkin.text.startswith("A quick check")
    assert sandbox.clock.now() >= due
    assert sandbox.fake.refused == []


async def test_next_counts_an_escalation_and_skips_what_a_pause_holds(
    running: RunningSandbox,
) -> None:
    """ "next:" is when someone will see something: an URGENT alert's next escalation
    counts, a paused patient's check-in counts only from the end of the pause."""
    sandbox = running.sandbox
    await _enrolled_patient(running)
    patient = sim_user(sandbox.fake, PATIENT)
    await patient.wait_for(lambda m: m.text.startswith("After your session 1"))  # at once
    first_checkin = await sandbox.next_due()
    assert first_checkin is not None and first_checkin > sandbox.clock.now()

    questions = await _say_and_wait(patient, "/symptom")
    q5 = await answer_until(patient, questions, "chest pain")
    mark = patient.mark()
    await patient.tap(q5, "Yes")  # URGENT: 15 min later it escalates unless acknowledged
    await patient.wait_for(is_emergency, after=mark)
    async with sandbox.bot().app.sessions() as db:
        alert = (await db.exec(select(Alert))).one()
    assert alert.next_escalation_at is not None
    escalation = alert.next_escalation_at.replace(tzinfo=UTC)
    assert escalation < first_checkin
    therapist = sim_user(sandbox.fake, THERAPIST)
    card = await therapist.wait_for(lambda m: "URGENT" in m.text and m.reply_markup is not None)
    await sandbox.fake.wait_until(lambda: len(card.buttons()) > 0)
    assert await sandbox.next_due() == escalation
    mark = therapist.mark()
    assert await sandbox.jump() == escalation  # the jump escalates: the card comes again
    await therapist.wait_for(lambda m: "URGENT" in m.text, after=mark)
    card = therapist.inbox[-1]

    await therapist.tap(card, "Acknowledge")
    await sandbox.fake.wait_until(lambda: "Acknowledged" in card.text)
    assert await sandbox.next_due() == first_checkin  # no escalation once acknowledged

    await _say_and_wait(patient, "/pause")
    async with sandbox.bot().app.sessions() as db:
        paused = (await db.exec(select(Patient))).one()
    if paused.status != "paused":  # /pause asks how long: the shortest choice
        menu = patient.inbox[-1]
        mark = patient.mark()
        await patient.tap(menu, menu.buttons()[0][0])
        await patient.wait_for(lambda m: "pause" in m.text.lower(), after=mark)
        async with sandbox.bot().app.sessions() as db:
            paused = (await db.exec(select(Patient))).one()
    assert paused.status == "paused" and paused.paused_until is not None
    assert await sandbox.next_due() == max(first_checkin, paused.paused_until.replace(tzinfo=UTC))
    assert sandbox.fake.refused == []


async def _say_and_wait(user: SimUser, text: str) -> SentMessage:
    mark = user.mark()
    await user.send(text)
    return await user.wait_for(lambda m: True, after=mark)


async def test_nothing_pending_means_no_jump(running: RunningSandbox) -> None:
    before = running.sandbox.clock.now()
    assert await running.sandbox.jump() is None
    assert running.sandbox.clock.now() - before < timedelta(minutes=1)


async def test_a_new_speed_keeps_protocol_time_and_survives_a_restart(tmp_path: Path) -> None:
    config = sandbox_config(tmp_path)
    async with running_sandbox(config) as running:
        clock = running.sandbox.clock
        started = time.monotonic()
        before = clock.now()
        await running.sandbox.set_scale(3600)
        after = clock.now()
        # no jump: at most the real time the call took, at the faster speed (a busy
        # machine can take a second or two; a jump would be the hours since the start)
        took = time.monotonic() - started
        assert before <= after <= before + timedelta(seconds=took * 3600 + 1)
        assert clock.scale == 3600
        stopped_at = clock.now()
    async with running_sandbox(config) as again:
        assert again.sandbox.clock.scale == 3600
        assert again.sandbox.clock.now() >= stopped_at  # kept running while stopped
        assert START < again.sandbox.clock.now() < START + timedelta(days=2)


async def test_reset_starts_over_with_an_empty_database(running: RunningSandbox) -> None:
    sandbox = running.sandbox
    await _enrolled_patient(running)
    generation = sandbox.generation
    await sandbox.set_scale(60)
    await sandbox.reset()
    assert sandbox.generation == generation + 1
    assert sandbox.clock.scale == 60  # the speed the person chose stays
    assert await _all(running, Patient) == []
    assert len(await _all(running, StaffMember)) == 3  # the cast again
    assert PATIENT.user_id not in sandbox.fake.users
    assert "enroll" in [c["command"] for c in sandbox.fake.commands[f"chat:{STAFF.user_id}"]]
    assert sandbox.fake.refused == []


async def test_the_page_and_its_guards(running: RunningSandbox) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(running.url + "/") as page:
            assert page.status == 200 and "careloop" in await page.text()
        async with http.get(running.url + "/static/app.js") as script:
            assert script.status == 200
        async with http.get(running.url + "/static/../config.py") as escape:
            assert escape.status == 404
        body = {"chat_id": STAFF.user_id, "text": "/help"}
        async with http.post(running.url + "/api/send", data="chat_id=3000") as form:
            assert form.status == 415  # a plain form post from another site
        async with http.post(
            running.url + "/api/send", json=body, headers={"Origin": "https://evil.example"}
        ) as cross:
            assert cross.status == 403
        async with http.post(
            running.url + "/api/send", json=body, headers={"Host": "evil.example"}
        ) as rebound:
            assert rebound.status == 403
        async with http.post(running.url + "/api/send", json={**body, "chat_id": 1}) as other:
            assert other.status == 400
        async with http.post(running.url + "/api/scale", json={"scale": 5}) as odd:
            assert odd.status == 400
        admin = sim_user(running.sandbox.fake, ADMIN)
        invitation = next(m for m in admin.inbox if "start=" in m.text)
        link = invitation.text.split()[-1]
        async with http.post(running.url + "/api/open", json={"link": link}) as invite:
            assert invite.status == 409  # the patient never becomes staff by a stray click
        async with http.post(running.url + "/api/send", json=body) as ok:
            assert ok.status == 200
    await sim_user(running.sandbox.fake, STAFF).wait_for(lambda m: "/enroll" in m.text)


def test_message_html_is_sanitized_and_links_are_clickable() -> None:
    bot = "careloop_sandbox_bot"
    html = safe_html(
        '<b>Hi</b> <a href="javascript:alert(1)">x</a> <img src=x onerror=alert(1)>'
        "<script>alert(1)</script> <code>a&lt;b</code>\n"
        f"https://t.me/{bot}?start=AbC_123. and https://example.org/x",
        "HTML",
        bot,
    )
    assert "<b>Hi</b>" in html
    assert "javascript" not in html and "<img" not in html and "<script" not in html
    assert "<code>a&lt;b</code>" in html
    assert f'href="https://t.me/{bot}?start=AbC_123" class="deeplink" data-start="AbC_123"' in html
    assert 'href="https://example.org/x" target="_blank" rel="noopener noreferrer"' in html
    assert safe_html("<b>not html</b>", None, bot) == "&lt;b&gt;not html&lt;/b&gt;"
