"""Turning a due outbox row into a Telegram message — the `Deliver` the dispatcher is given.

Each kind of row is prepared by `care` (which decides whether it still should go out),
rendered here, sent, and then recorded as sent in one transaction. Telegram's answers
become the dispatcher's outcomes: 429 → RetryAfter, 403 → Blocked, 5xx and network
trouble → Transient, other 4xx → Failed.

Which method renders a row is looked up in one table, :data:`RENDERERS` (kind → renderer,
as aiogram's routers look up observers and procrastinate's worker looks up a task): a new
kind of row is one :class:`~store.models.OutboxKind` member and one entry there. A row is
recorded as sent as soon as Telegram has answered for it, before anything else is asked of
Telegram, so a kill doubles only the messages in flight at that moment (invariant 2); every
state it is moved to goes through :mod:`store.outbox`, guarded by ``state = 'claimed'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from typing import Any, TypeVar

from aiogram import Bot, html
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardMarkup, Message, ReplyParameters
from aiohttp import ClientError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.alert_view import alert_card, alert_notice, digest_header, digest_line
from bot.checkin_view import checkin_text, question_keyboard
from bot.config import Settings
from bot.controls_view import symptom_keyboard
from bot.desk.menu import desk_url_for_chat
from bot.formatting import Style, language_of, staff_style
from bot.programme_view import (
    exercise_line,
    programme_change_text,
    reminder_keyboard,
    send_with_media,
)
from bot.routers.checkin import SAFETY_BY_TIER
from bot.safety_view import session_advice_text
from bot.texts import Raw, clinic_of, safety_line, t
from care import checkins as care
from care.alert_copies import alert_version, bring_copy_up_to_date, record_alert_sent
from care.alerts import AlertPolicy, staff_unreachable, waiting
from care.context import course_start, patient_tz, sessions_of
from care.digest import digest_items, digest_sent, staff_tz
from care.exercise_log import logs_of_day
from care.programme import Entry, media_of, programme_of
from flows.exercises import exercises_for_day, reminder_text
from flows.protocol import Protocol
from flows.triage import Tier
from scheduler.clock import Clock
from scheduler.outcomes import (
    Blocked,
    Deferred,
    Failed,
    Outcome,
    RetryAfter,
    Sent,
    Settled,
    Transient,
)
from scheduler.ratelimit import mark_answered
from store import outbox
from store.db import SessionFactory
from store.models import (
    Alert,
    AlertCopy,
    AlertState,
    OutboxKind,
    OutboxMessage,
    OutboxState,
    Patient,
    PatientStatus,
    StaffMember,
)

log = logging.getLogger(__name__)

ERASED_TEXT = "[erased patient]"

T = TypeVar("T")


class NotNow(Exception):
    """`care` decided the row is not to be sent now: the outcome that says so."""

    def __init__(self, outcome: Settled | Deferred) -> None:
        super().__init__(outcome)
        self.outcome = outcome


def ready(prepared: care.Skip | care.Wait | T) -> T:
    """What `care` prepared, when it is to be sent now; else the one translation of its
    verdict — Skip (already settled, committed) → Settled, Wait → Deferred — raised as
    :class:`NotNow` for :meth:`Delivery.__call__` to return."""
    if isinstance(prepared, care.Skip):
        raise NotNow(Settled(prepared.reason))
    if isinstance(prepared, care.Wait):
        raise NotNow(Deferred(prepared.until, prepared.reason))
    return prepared




class Delivery:
    """The bot edge's `Deliver`: one row in, one outcome out; never raises for Telegram."""

    def __init__(
        self,
        bot: Bot,
        sessions: SessionFactory,
        protocol: Protocol,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.bot = bot
        self.sessions = sessions
        self.protocol = protocol
        self.settings = settings
        self.clock = clock
        self.policy = AlertPolicy.of(
            protocol,
            escalation_minutes=settings.escalation_minutes,
            alert_chat_id=settings.alert_chat_id,
            clinic_tz=settings.clinic_timezone,
        )

    async def __call__(self, row: OutboxMessage) -> Outcome:
        render = RENDERERS.get(row.kind)
        if render is None:
            return Failed(f"unknown outbox kind {row.kind!r}")
        try:
            return await render(self, row)
        except NotNow as verdict:
            return verdict.outcome
        except TelegramRetryAfter as exc:
            return RetryAfter(float(exc.retry_after))
        except TelegramForbiddenError as exc:
            return Blocked(exc.message)
        except (TelegramServerError, TelegramNetworkError, ClientError, TimeoutError) as exc:
            return Transient(f"{type(exc).__name__}: {exc}"[:300])
        except TelegramBadRequest as exc:
            return Failed(exc.message[:300])
        except asyncio.CancelledError:
            raise

    async def _send(self, chat_id: int, text: str, **kwargs: Any) -> Message:
        """Send, then tell the limiter Telegram has answered, before any database work, so
        the rate window is dated by Telegram's clock and not by our commit."""
        try:
            return await self.bot.send_message(chat_id, text, **kwargs)
        finally:
            mark_answered()

    async def _edit(
        self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> None:
        """Edit a shown message in place. "Message is not modified" / "message to edit not
        found" count as done: the message is already like that, or gone, and retrying
        cannot change it (the row is then recorded as sent)."""
        try:
            await self.bot.edit_message_text(
                text=text, chat_id=chat_id, message_id=message_id, reply_markup=markup
            )
        except TelegramBadRequest as exc:
            if "not modified" not in exc.message and "not found" not in exc.message:
                raise

    async def _checkin(self, row: OutboxMessage) -> Outcome:
        now = self.clock.now()
        tz = self.settings.clinic_timezone
        async with self.sessions() as db:
            prepared = ready(
                await care.prepare_checkin(
                    db, self.protocol, row, default_tz=tz, now=now, policy=self.policy
                )
            )
        lang = prepared.patient.language
        assert prepared.checkin.id is not None and row.id is not None
        text = checkin_text(
            self.protocol, prepared.definition, prepared.context, {}, prepared.ref, lang
        )
        try:
            message = await self._send(
                row.chat_id,
                text,
                reply_markup=question_keyboard(
                    self.protocol, prepared.checkin.id, prepared.ref, lang
                ),
            )
        except BaseException:
            async with self.sessions() as db:
                await care.unsend_checkin(db, prepared.checkin.id)
            raise
        async with self.sessions() as db:
            await care.mark_checkin_sent(
                db,
                self.protocol,
                row_id=row.id,
                checkin_id=prepared.checkin.id,
                message_id=message.message_id,
                default_tz=tz,
                now=self.clock.now(),
            )
        log.info(
            "check-in %s (%s) sent to patient %s",
            prepared.checkin.id,
            prepared.checkin.key,
            prepared.patient.id,
        )
        return Sent(message.message_id)

    async def _nudge(self, row: OutboxMessage) -> Outcome:
        now = self.clock.now()
        tz = self.settings.clinic_timezone
        async with self.sessions() as db:
            prepared = ready(
                await care.prepare_nudge(db, self.protocol, row, default_tz=tz, now=now)
            )
        lang = prepared.patient.language
        checkin = prepared.checkin
        assert checkin.id is not None and row.id is not None
        text = (
            t("nudge", lang)
            + "\n\n"
            + checkin_text(
                self.protocol,
                prepared.definition,
                prepared.context,
                prepared.answered,
                prepared.ref,
                lang,
            )
        )
        message = await self._send(
            row.chat_id,
            text,
            reply_markup=question_keyboard(self.protocol, checkin.id, prepared.ref, lang),
        )
        async with self.sessions() as db:  # recorded before the next call to Telegram
            await care.mark_nudge_sent(
                db,
                row_id=row.id,
                checkin_id=checkin.id,
                message_id=message.message_id,
                now=self.clock.now(),
            )
        if checkin.chat_message_id is not None:
            # the old bubble is retired: what was answered, then "continued below ↓", no
            # buttons; the reminder carries the live ones (were this lost to a kill, a tap
            # on them is a stale tap, handled as such: invariant 4)
            retired = checkin_text(
                self.protocol,
                prepared.definition,
                prepared.context,
                prepared.answered,
                None,
                lang,
                closing=t("checkin_continued", lang),
            )
            with contextlib.suppress(TelegramBadRequest):
                await self.bot.edit_message_text(
                    retired, chat_id=row.chat_id, message_id=checkin.chat_message_id
                )
        return Sent(message.message_id)

    async def _checkin_closed(self, row: OutboxMessage) -> Outcome:
        """A check-in closed undone: its message keeps what it asked, says it has closed, and
        its answer buttons give way to one "Report a new symptom" button."""
        async with self.sessions() as db:
            view = ready(await care.prepare_closed_edit(db, self.protocol, row))
        lang = view.patient.language
        text = (
            checkin_text(
                self.protocol, view.definition, view.context, view.answered, view.ref, lang
            )
            + "\n\n"
            + t("checkin_closed_edit", lang)
        )
        await self._edit(row.chat_id, view.message_id, text, symptom_keyboard(lang))
        return await self._mark_sent(row, view.message_id)

    async def _exercise(self, row: OutboxMessage) -> Outcome:
        now = self.clock.now()
        tz = self.settings.clinic_timezone
        async with self.sessions() as db:
            patient = ready(
                await care.prepare_exercise(db, self.protocol, row, default_tz=tz, now=now)
            )
            assert patient.id is not None
            local_day = now.astimezone(patient_tz(patient, tz)).date()
            sessions = await sessions_of(db, patient.id)
            start = await course_start(db, patient.id)
            programme = await programme_of(db, self.protocol, patient.id)
            logged = await logs_of_day(db, patient.id, local_day)
        assert row.id is not None
        needling_day = any(
            s.ended_at.astimezone(patient_tz(patient, tz)).date() == local_day for s in sessions
        )
        text = self._exercise_text(patient, local_day, needling_day, start is None, programme)
        todays = (
            ()
            if needling_day or start is None
            else exercises_for_day(
                self.protocol, [e.exercise.key for e in programme], local_day, needling_day=False
            )
        )
        keyboard = reminder_keyboard(
            row.id, todays, logged, self.protocol, patient.language, snooze=not needling_day
        )
        last = None
        if not row.payload.get("snoozed"):  # a snoozed copy's original lost its buttons at the tap
            async with self.sessions() as db:
                last = await _last_reminder_shown(db, patient.id, row.id)
        message = await self._send(row.chat_id, text, reply_markup=keyboard)
        if row.payload.get("snoozed"):  # a snoozed copy: the next reminder is planned already
            sent = await self._mark_sent(row, message.message_id)
        else:
            async with self.sessions() as db:
                await care.mark_exercise_sent(
                    db,
                    self.protocol,
                    row_id=row.id,
                    message_id=message.message_id,
                    default_tz=tz,
                    now=self.clock.now(),
                )
            sent = Sent(message.message_id)
        if last is not None:
            # the previous reminder's question is over: its buttons go (a kill here leaves
            # them; a tap on them is then a stale tap, answered as such)
            with contextlib.suppress(TelegramBadRequest):
                await self.bot.edit_message_reply_markup(
                    chat_id=row.chat_id, message_id=last, reply_markup=None
                )
        return sent

    def _exercise_text(
        self,
        patient: Patient,
        day: date,
        needling_day: bool,
        no_course: bool,
        programme: list[Entry],
    ) -> str:
        lang = patient.language
        lines = [html.quote(reminder_text(self.protocol, needling_day=needling_day).get(lang))]
        if not needling_day and not no_course:
            dosages = {entry.exercise.key: entry.dosage for entry in programme}
            todays = exercises_for_day(self.protocol, dosages, day, needling_day=False)
            lines.append("")
            for exercise in todays:
                lines.append(exercise_line(exercise, dosages[exercise.key], lang))
            if not todays:
                lines.append(t("exercise_rest_day", lang))
        return "\n".join(lines)

    async def _digest(self, row: OutboxMessage) -> Outcome:
        """The therapist's daily digest, rendered from what is open at sending time."""
        async with self.sessions() as db:
            staff = await db.get(StaffMember, row.staff_id) if row.staff_id else None
            if staff is None or staff.id is None:
                return await self._cancel(db, row, "therapist gone")
            items = await digest_items(db, staff.id, now=self.clock.now())
            if not items:
                return await self._cancel(db, row, "nothing to report")
            style = await self._staff_style(db, row.chat_id)
        lines = [digest_header(row.payload.get("date"), style)]
        for item in items:
            line = digest_line(item, style)
            if len("\n".join([*lines, line])) > 3800:
                lines.append(t("digest_more", style.lang, count=len(items) - len(lines) + 1))
                break
            lines.append(line)
        message = await self._send(row.chat_id, "\n".join(lines))
        async with self.sessions() as db:
            await digest_sent(
                db, _id(row), staff_id=staff.id, message_id=message.message_id, now=self.clock.now()
            )
        return Sent(message.message_id)

    async def _discharge(self, row: OutboxMessage) -> Outcome:
        """The closing message: the exercise plan to keep, and the safety line."""
        async with self.sessions() as db:
            patient = await db.get(Patient, row.patient_id) if row.patient_id else None
            if patient is None or patient.id is None or patient.status == PatientStatus.DELETED:
                return await self._cancel(db, row, "patient gone")
            programme = await programme_of(db, self.protocol, patient.id)
        lang = patient.language
        exercises = "\n".join(
            exercise_line(entry.exercise, entry.dosage, lang) for entry in programme
        )
        text = t(
            "discharge_patient",
            lang,
            clinic=clinic_of(self.settings.clinic_name, lang),
            exercises=Raw(exercises),
            safety=Raw(
                safety_line(lang, self.settings.emergency_number, self.settings.clinic_phone)
            ),
        )
        message = await self._send(row.chat_id, text)
        return await self._mark_sent(row, message.message_id)

    async def _staff_style(self, db: AsyncSession, chat_id: int) -> Style:
        """How the person of `chat_id` reads times: the clinic's locale and zone, the zone
        named when their own differs (a group reads the clinic's)."""
        person = (
            await db.exec(select(StaffMember).where(StaffMember.tg_user_id == chat_id))
        ).first()
        tz = self.settings.clinic_timezone
        home = staff_tz(person, tz) if person is not None else tz
        return staff_style(self.settings.clinic_locale, tz, home=home)

    async def _alert(self, row: OutboxMessage) -> Outcome:
        """An alert (or one step of its ladder, a re-send) to one chat; the copy is remembered
        so that every change of state can edit it later."""
        payload = dict(row.payload)
        async with self.sessions() as db:
            alert = await db.get(Alert, row.alert_id) if row.alert_id else None
            follow_up = bool(payload.get("callback_overdue") or payload.get("rerouted"))
            if alert is None or not (
                alert.state == AlertState.OPEN or (follow_up and waiting(alert))
            ):
                return await self._cancel(db, row, "alert no longer open")
            shown = alert_version(alert)
            style = await self._staff_style(db, row.chat_id)
            text, markup = await alert_card(
                db,
                alert,
                style,
                payload=payload,
                desk_url=desk_url_for_chat(row.chat_id, self.settings.desk_url),
            )
        try:
            message = await self._send(row.chat_id, text, reply_markup=markup)
        except TelegramForbiddenError:
            if row.staff_id is not None:  # the therapist blocked the bot: the others get it
                # only the card's first push to its own therapist is re-routed: a ladder
                # step, a re-send or a re-routed copy already went to the others as well
                first_push = (
                    alert.therapist_id == row.staff_id
                    and not payload.get("level")
                    and not any(payload.get(k) for k in ("rerouted", "resent", "callback_overdue"))
                )
                async with self.sessions() as db:
                    await staff_unreachable(
                        db,
                        self.policy,
                        staff_id=row.staff_id,
                        alert_id=row.alert_id if first_push else None,
                        now=self.clock.now(),
                    )
                log.info("alert %s: staff %s unreachable, re-routed", row.alert_id, row.staff_id)
            raise
        async with self.sessions() as db:  # two units of work: see care.alert_copies
            copy = await record_alert_sent(
                db, row, message_id=message.message_id, now=self.clock.now()
            )
            if copy is not None:  # a fresh copy: the alert may have changed on its way
                await bring_copy_up_to_date(db, copy, shown=shown, now=self.clock.now())
        log.info("alert %s sent to chat %s", row.alert_id, row.chat_id)
        return Sent(message.message_id)

    async def _alert_notice(self, row: OutboxMessage) -> Outcome:
        """A short message replying to a shown card: a new finding updated it."""
        async with self.sessions() as db:
            copy = await db.get(AlertCopy, int(row.payload.get("copy_id", 0)))
            alert = await db.get(Alert, copy.alert_id) if copy else None
            if copy is None or alert is None:
                return await self._cancel(db, row, "copy gone")
            facts_from = row.payload.get("facts_from")
            text = await alert_notice(
                db,
                alert,
                await self._staff_style(db, row.chat_id),
                first_line=int(row.payload.get("from", 0)),
                first_fact=None if facts_from is None else int(facts_from),
            )
        try:
            message = await self._send(
                row.chat_id,
                text,
                reply_parameters=ReplyParameters(
                    message_id=copy.message_id, allow_sending_without_reply=True
                ),
            )
        except TelegramForbiddenError:
            if row.staff_id is not None or row.chat_id != self.policy.alert_chat_id:
                async with self.sessions() as db:  # blocked since: later alerts go elsewhere
                    person = (
                        await db.exec(
                            select(StaffMember).where(StaffMember.tg_user_id == row.chat_id)
                        )
                    ).first()
                    if person is not None and person.id is not None:
                        await staff_unreachable(
                            db, self.policy, staff_id=person.id, alert_id=None, now=self.clock.now()
                        )
            raise
        sent = await self._mark_sent(row, message.message_id)
        log.info("alert %s notice sent to chat %s", row.alert_id, row.chat_id)
        return sent

    async def _alert_edit(self, row: OutboxMessage) -> Outcome:
        """Bring one shown copy up to date (acknowledged, or seen again)."""
        async with self.sessions() as db:
            copy = await db.get(AlertCopy, int(row.payload.get("copy_id", 0)))
            alert = await db.get(Alert, copy.alert_id) if copy else None
            if copy is None or alert is None:
                return await self._cancel(db, row, "copy gone")
            text, markup = await alert_card(
                db,
                alert,
                await self._staff_style(db, copy.chat_id),
                desk_url=desk_url_for_chat(copy.chat_id, self.settings.desk_url),
            )
        await self._edit(copy.chat_id, copy.message_id, text, markup)
        return await self._mark_sent(row, copy.message_id)

    async def _erased_edit(self, row: OutboxMessage) -> Outcome:
        """A shown message that named a patient who was since erased becomes "[erased
        patient]" with no buttons (a copy of their media is deleted instead).

        Any refusal — too old to edit, deleted by the person, a photo — settles the row:
        retrying cannot change it, and nothing else can be done about that message."""
        message_id = int(row.payload.get("message_id", 0))
        try:
            if row.payload.get("delete"):
                await self.bot.delete_message(chat_id=row.chat_id, message_id=message_id)
            else:
                await self.bot.edit_message_text(
                    text=ERASED_TEXT, chat_id=row.chat_id, message_id=message_id
                )
        except TelegramBadRequest as exc:
            async with self.sessions() as db:
                await outbox.fail_row(db, _id(row), error=f"not redacted: {exc.message}")
            return Settled("message no longer editable")
        finally:
            mark_answered()
        return await self._mark_sent(row, message_id)

    async def _cancel(self, db: AsyncSession, row: OutboxMessage, reason: str) -> Settled:
        """Nothing to send any more (what it was about is gone): the row ends cancelled."""
        await outbox.cancel_row(db, _id(row), reason=reason)
        return Settled(reason)

    async def _mark_sent(self, row: OutboxMessage, message_id: int) -> Sent:
        """Record the row as sent the moment Telegram has answered for it (invariant 2).

        A row settled by someone else while its message was on its way (its patient erased,
        or blocked the bot) stays as they left it: the mark is guarded by its claim."""
        async with self.sessions() as db:
            if not await outbox.record_sent(
                db, _id(row), now=self.clock.now(), message_id=message_id
            ):
                log.info("outbox %d %s: settled while on its way, left so", _id(row), row.kind)
        return Sent(message_id)

    async def _note_media(self, row: OutboxMessage) -> Outcome:
        """A photo, voice note … the patient passed on: copied from their chat (we never
        keep the content), queued after the alert it belongs to."""
        try:
            copied = await self.bot.copy_message(
                chat_id=row.chat_id,
                from_chat_id=int(row.payload["from_chat_id"]),
                message_id=int(row.payload["message_id"]),
            )
        finally:
            mark_answered()
        return await self._mark_sent(row, copied.message_id)

    async def _safety_reply(self, row: OutboxMessage) -> Outcome:
        """The safety reply to an answer recorded for a patient not at the tap (a multi-select
        left standing): the same texts as at a tap, in the patient's language."""
        async with self.sessions() as db:
            patient = await db.get(Patient, row.patient_id) if row.patient_id else None
            if patient is None or patient.tg_user_id is None:
                return await self._cancel(db, row, "patient gone")
        message = await self._send(
            row.chat_id,
            safety_reply_text(self.protocol, self.settings, patient.language, row.payload),
        )
        return await self._mark_sent(row, message.message_id)

    async def _session_advice(self, row: OutboxMessage) -> Outcome:
        """After a session: its aftercare advice and the emergency signs, once per session.
        A second row for a session whose message went out (a double delivery, a row queued
        twice) is cancelled, not sent; so is one for a patient no longer followed."""
        session_id = row.payload.get("session_id")
        async with self.sessions() as db:
            patient = await db.get(Patient, row.patient_id) if row.patient_id else None
            if patient is None or patient.status not in (
                PatientStatus.ACTIVE,
                PatientStatus.PAUSED,
            ):
                return await self._cancel(db, row, "patient not followed")
            earlier = await db.exec(
                select(OutboxMessage).where(
                    OutboxMessage.kind == OutboxKind.SESSION_ADVICE,
                    OutboxMessage.patient_id == row.patient_id,
                    OutboxMessage.state == OutboxState.SENT,
                    OutboxMessage.id != row.id,
                )
            )
            if any(e.payload.get("session_id") == session_id for e in earlier.all()):
                return await self._cancel(db, row, "already sent for this session")
        text = session_advice_text(
            self.protocol,
            self.settings,
            patient.language,
            number=int(row.payload.get("session", 1)),
            signs=bool(row.payload.get("signs", True)),
        )
        message = await self._send(row.chat_id, text)
        return await self._mark_sent(row, message.message_id)

    async def _therapist_changed(self, row: OutboxMessage) -> Outcome:
        """/reassign: the patient hears who their therapist is now, in their language."""
        async with self.sessions() as db:
            patient = await db.get(Patient, row.patient_id) if row.patient_id else None
            therapist = await db.get(StaffMember, int(row.payload.get("therapist_id", 0)))
            if patient is None or therapist is None or patient.tg_user_id != row.chat_id:
                return await self._cancel(db, row, "patient or therapist gone")
        text = t(
            "therapist_changed",
            patient.language,
            clinic=clinic_of(self.settings.clinic_name, patient.language),
            therapist=therapist.name,
        )
        message = await self._send(row.chat_id, text)
        return await self._mark_sent(row, message.message_id)

    async def _programme_change(self, row: OutboxMessage) -> Outcome:
        """A change of the home programme: what changed, with the new instructions. Rendered
        from the row's own values (a later change sends its own message)."""
        async with self.sessions() as db:
            patient = await db.get(Patient, row.patient_id) if row.patient_id else None
            if patient is None or patient.tg_user_id != row.chat_id:
                return await self._cancel(db, row, "patient gone")
            exercise = self.protocol.exercises.get(str(row.payload.get("exercise")))
            previous = self.protocol.exercises.get(str(row.payload.get("previous")))
            if exercise is None:
                return await self._cancel(db, row, "exercise no longer in the protocol")
            media = (await media_of(db, [exercise.key])).get(exercise.key)
        text = programme_change_text(row.payload, exercise, previous, patient.language)
        if media is not None and row.payload.get("change") != "removed":
            try:
                message = await send_with_media(self.bot, row.chat_id, media, text)
            finally:
                mark_answered()
        else:
            message = await self._send(row.chat_id, text)
        return await self._mark_sent(row, message.message_id)

    async def _notice(self, row: OutboxMessage) -> Outcome:
        async with self.sessions() as db:
            patient = await db.get(Patient, row.patient_id) if row.patient_id else None
        name = (patient.display_name if patient else None) or "—"
        key = (
            "notice_unreachable"
            if row.kind == OutboxKind.PATIENT_UNREACHABLE
            else row.payload.get("text", "notice_unreachable")
        )
        lang = language_of(self.settings.clinic_locale)  # a notice is read by staff
        text = t(str(key), lang, name=name, patient_id=row.patient_id or 0)
        message = await self._send(row.chat_id, text)
        return await self._mark_sent(row, message.message_id)


Renderer = Callable[[Delivery, OutboxMessage], Awaitable[Outcome]]

RENDERERS: Mapping[str, Renderer] = {
    OutboxKind.CHECKIN: Delivery._checkin,
    OutboxKind.NUDGE: Delivery._nudge,
    OutboxKind.CHECKIN_CLOSED: Delivery._checkin_closed,
    OutboxKind.EXERCISE: Delivery._exercise,
    OutboxKind.NOTICE: Delivery._notice,
    OutboxKind.PATIENT_UNREACHABLE: Delivery._notice,
    OutboxKind.DIGEST: Delivery._digest,
    OutboxKind.DISCHARGE: Delivery._discharge,
    OutboxKind.ALERT: Delivery._alert,
    OutboxKind.ALERT_EDIT: Delivery._alert_edit,
    OutboxKind.ALERT_NOTICE: Delivery._alert_notice,
    OutboxKind.NOTE_MEDIA: Delivery._note_media,
    OutboxKind.SAFETY_REPLY: Delivery._safety_reply,
    OutboxKind.THERAPIST_CHANGED: Delivery._therapist_changed,
    OutboxKind.ERASED_EDIT: Delivery._erased_edit,
    OutboxKind.PROGRAMME_CHANGE: Delivery._programme_change,
    OutboxKind.SESSION_ADVICE: Delivery._session_advice,
}
"""Which method renders a row of each kind (the stored string looks it up: OutboxKind is a
StrEnum). A new kind of row is one OutboxKind member and one entry here."""


async def _last_reminder_shown(db: AsyncSession, patient_id: int, row_id: int) -> int | None:
    """The message id of the patient's latest exercise reminder before row `row_id`."""
    return (
        await db.exec(
            select(OutboxMessage.message_id)
            .where(
                OutboxMessage.kind == OutboxKind.EXERCISE,
                OutboxMessage.patient_id == patient_id,
                OutboxMessage.state == OutboxState.SENT,
                OutboxMessage.id != row_id,
                col(OutboxMessage.message_id).is_not(None),
            )
            .order_by(col(OutboxMessage.sent_at).desc())
            .limit(1)
        )
    ).first()


def _id(row: OutboxMessage) -> int:
    assert row.id is not None, "a delivered row comes from the database"
    return row.id


def safety_reply_text(
    protocol: Protocol, settings: Settings, lang: str, payload: dict[str, Any]
) -> str:
    """The "⚠️" reply of bot.routers.checkin for a queued reply's keys (tier, emergency,
    advice): the emergency text when the findings send the patient there."""
    values = {
        "emergency_number": settings.emergency_number,
        "clinic_phone": settings.clinic_phone,
        "clinic_name": clinic_of(settings.clinic_name, lang),
    }
    tier = Tier.URGENT if payload.get("emergency") else Tier(str(payload.get("tier")))
    keys = SAFETY_BY_TIER.get(tier, ("not_emergency",))
    lines = [protocol.safety[key].render(lang, **values) for key in keys]
    lines += [
        protocol.advice[key].render(lang, **values)
        for key in payload.get("advice", [])
        if key in protocol.advice
    ]
    return "⚠️ " + html.quote("\n\n".join(lines))
