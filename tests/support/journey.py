"""The first user journey, step by step, as people tap through it in Telegram."""

from __future__ import annotations

import re

from tests.fakebot import FakeBotAPI, SentMessage, SimUser
from tests.support.harness import ADMIN_ID

PATIENT_NAME = "Zoë <O'Brien> & 🦵"
LINK_RE = re.compile(r"https://t\.me/(\w+)\?start=([A-Za-z0-9_-]+)")


def link_token(message: SentMessage) -> str:
    match = LINK_RE.search(message.text or "")
    assert match, f"no deep link in {message.text!r}"
    return match.group(2)


async def invite(fake: FakeBotAPI, role_button: str, person: SimUser) -> None:
    """The admin creates an invitation; `person` opens it and is registered."""
    admin = fake.user(ADMIN_ID, "Ada")
    mark = admin.mark()
    await admin.send("/invite")
    choose = await admin.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = admin.mark()
    await admin.tap(choose, role_button)
    link_message = await admin.wait_for(lambda m: "start=" in (m.text or ""), after=mark)
    mark = person.mark()
    await person.start(link_token(link_message))
    await person.wait_for(lambda m: "registered" in (m.text or ""), after=mark)


async def enroll_to_baseline(
    staff: SimUser,
    *,
    name: str = PATIENT_NAME,
    therapist: str = "Theo Rapist",
    regions: tuple[str, ...] = ("Piriformis", "Upper back / chest wall"),
    legs: str = "No",
    screening: tuple[str, ...] = (),
) -> SentMessage:
    """Staff goes through /enroll up to the baseline question; returns that message.

    `legs`: the answer to "buttock or leg symptoms?"; `screening`: the facts ticked (none:
    "None of these")."""
    mark = staff.mark()
    await staff.send("/enroll")
    await staff.wait_for(lambda m: "name" in (m.text or ""), after=mark)
    mark = staff.mark()
    await staff.send(name)
    therapist_q = await staff.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = staff.mark()
    await staff.tap(therapist_q, therapist)
    time_q = await staff.wait_for(lambda m: "session end" in (m.text or ""), after=mark)
    mark = staff.mark()
    await staff.tap(time_q, "30 min ago")
    regions_q = await staff.wait_for(lambda m: "regions" in (m.text or ""), after=mark)
    for region in regions:
        mark = staff.mark()
        current = next(m for m in staff.inbox if m.message_id == regions_q.message_id)
        await staff.tap(current, region)
        await staff.wait_for(
            lambda m, r=region: (
                m.message_id == regions_q.message_id  # type: ignore[misc]
                and f"✅ {r}" in str(m.buttons())
            ),
            after=mark,
        )
    mark = staff.mark()
    current = next(m for m in staff.inbox if m.message_id == regions_q.message_id)
    await staff.tap(current, "Done")
    legs_q = await staff.wait_for(lambda m: "buttock or leg" in (m.text or ""), after=mark)
    mark = staff.mark()
    await staff.tap(legs_q, legs)
    screening_q = await staff.wait_for(lambda m: "Screening" in (m.text or ""), after=mark)
    for fact in screening:
        mark = staff.mark()
        current = next(m for m in staff.inbox if m.message_id == screening_q.message_id)
        await staff.tap(current, f"☐ {fact}")
        await staff.wait_for(
            lambda m, f=fact: (
                m.message_id == screening_q.message_id  # type: ignore[misc]
                and f"☑ {f}" in str(m.buttons())
            ),
            after=mark,
        )
    mark = staff.mark()
    current = next(m for m in staff.inbox if m.message_id == screening_q.message_id)
    await staff.tap(current, "Done" if screening else "None of these")
    return await staff.wait_for(lambda m: "Usual pain" in (m.text or ""), after=mark)


async def enroll(
    fake: FakeBotAPI,
    staff: SimUser,
    *,
    name: str = PATIENT_NAME,
    therapist: str = "Theo Rapist",
    regions: tuple[str, ...] = ("Piriformis", "Upper back / chest wall"),
    baseline: str = "6",
    legs: str = "No",
    screening: tuple[str, ...] = (),
) -> tuple[str, SentMessage, SentMessage]:
    """Staff enrolls a patient; returns (token, the link message, the QR photo message)."""
    baseline_q = await enroll_to_baseline(
        staff, name=name, therapist=therapist, regions=regions, legs=legs, screening=screening
    )
    mark = staff.mark()
    await staff.tap(baseline_q, baseline)
    done = await staff.wait_for(lambda m: "is enrolled" in (m.text or ""), after=mark)
    qr = await staff.wait_for(lambda m: m.photo is not None, after=mark)
    return link_token(done), done, qr


async def join_and_consent(patient: SimUser, token: str, *, agree: bool = True) -> SentMessage:
    mark = patient.mark()
    await patient.start(token)
    consent = await patient.wait_for(lambda m: m.reply_markup is not None, after=mark)
    mark = patient.mark()
    await patient.tap(consent, "I agree" if agree else "No, thanks")
    return await patient.wait_for(
        lambda m: ("Thank you" if agree else "I will not send") in (m.text or ""), after=mark
    )
