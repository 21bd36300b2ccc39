"""Turning a due outbox row into a Telegram message — the `Deliver` the dispatcher is given.

Each kind of row is prepared by `care` (which decides whether it still should go out),
rendered here, sent, and then recorded as sent in one transaction. Telegram's answers
become the dispatcher's outcomes: 429 → RetryAfter, 403 → Blocked, 5xx and network
trouble → Transient, other 4xx → Failed.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Any

from aiogram import Bot, html
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters
from aiohttp import ClientError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.alert_view import alert_card, alert_notice
from bot.callbacks import ExerciseCb, SymptomCb
from bot.checkin_view import checkin_text, question_keyboard
from bot.config import Settings
from bot.routers.checkin import SAFETY_BY_TIER
from bot.texts import Raw, safety_line, t
from care import audit
from care import checkins as care
from care.alerts import (
    KIND_ALERT,
    KIND_ALERT_EDIT,
    KIND_ALERT_NOTICE,
    AlertPolicy,
    queue_copy_edit,
    staff_unreachable,
    waiting,
)
from care.context import course_start, patient_tz, sessions_of
from care.digest import KIND_DIGEST, close_listed_routine, digest_items
from care.planning import (
    KIND_CHECKIN,
    KIND_CHECKIN_CLOSED,
    KIND_EXERCISE,
    KIND_NOTICE,
    KIND_NUDGE,
)
from care.records import KIND_DISCHARGE, KIND_ERASED_EDIT, KIND_NOTE_MEDIA
from care.safety_reply import KIND_SAFETY_REPLY
from care.staff import KIND_THERAPIST_CHANGED
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
from store.db import SessionFactory
from store.models import (
    Alert,
    AlertCopy,
    AlertState,
    OutboxMessage,
    OutboxState,
    Patient,
    StaffMember,
)

log = logging.getLogger(__name__)

ERASED_TEXT = "[erased patient]"


async def _edit_queued(db: AsyncSession, copy: AlertCopy) -> bool:
    edits = await db.exec(
        select(OutboxMessage).where(
            OutboxMessage.kind == KIND_ALERT_EDIT,
            OutboxMessage.alert_id == copy.alert_id,
            OutboxMessage.chat_id == copy.chat_id,
        )
    )
    return any(e.payload.get("copy_id") == copy.id for e in edits.all())


def _alert_version(alert: Alert) -> tuple[object, ...]:
    """What a card shows that can change after it was rendered."""
    return (alert.state, alert.tier, len(alert.reasons), alert.occurrences, alert.called_back_at)


DEFAULT_EXERCISES = (
    "piriformis_stretch",
    "hamstring_stretch",
    "hip_flexor_stretch",
    "clamshell",
    "glute_bridge",
)


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
        try:
            if row.kind == KIND_CHECKIN:
                return await self._checkin(row)
            if row.kind == KIND_NUDGE:
                return await self._nudge(row)
            if row.kind == KIND_EXERCISE:
                return await self._exercise(row)
            if row.kind in (KIND_NOTICE, "patient_unreachable"):
                return await self._notice(row)
            if row.kind == KIND_DIGEST:
                return await self._digest(row)
            if row.kind == KIND_DISCHARGE:
                return await self._discharge(row)
            if row.kind == KIND_ALERT:
                return await self._alert(row)
            if row.kind == KIND_ALERT_EDIT:
                return await self._alert_edit(row)
            if row.kind == KIND_NOTE_MEDIA:
                return await self._note_media(row)
            if row.kind == KIND_ALERT_NOTICE:
                return await self._alert_notice(row)
            if row.kind == KIND_SAFETY_REPLY:
                return await self._safety_reply(row)
            if row.kind == KIND_CHECKIN_CLOSED:
                return await self._checkin_closed(row)
            if row.kind == KIND_THERAPIST_CHANGED:
                return await self._therapist_changed(row)
            if row.kind == KIND_ERASED_EDIT:
                return await self._erased_edit(row)
            return Failed(f"unknown outbox kind {row.kind!r}")
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

    async def _checkin(self, row: OutboxMessage) -> Outcome:
        now = self.clock.now()
        tz = self.settings.clinic_timezone
        async with self.sessions() as db:
            prepared = await care.prepare_checkin(
                db, self.protocol, row, default_tz=tz, now=now, policy=self.policy
            )
        if isinstance(prepared, care.Skip):
            return Settled(prepared.reason)
        if isinstance(prepared, care.Wait):
            return Deferred(prepared.until, prepared.reason)
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
            prepared = await care.prepare_nudge(db, self.protocol, row, default_tz=tz, now=now)
        if isinstance(prepared, care.Skip):
            return Settled(prepared.reason)
        if isinstance(prepared, care.Wait):
            return Deferred(prepared.until, prepared.reason)
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
        if checkin.chat_message_id is not None:
            try:  # the old buttons go; the reminder carries the live ones
                await self.bot.edit_message_reply_markup(
                    chat_id=row.chat_id, message_id=checkin.chat_message_id, reply_markup=None
                )
            except TelegramBadRequest:
                pass
        async with self.sessions() as db:
            await care.mark_nudge_sent(
                db,
                row_id=row.id,
                checkin_id=checkin.id,
                message_id=message.message_id,
                now=self.clock.now(),
            )
        return Sent(message.message_id)

    async def _checkin_closed(self, row: OutboxMessage) -> Outcome:
        """A check-in closed undone: its message keeps what it asked, says it has closed, and
        its answer buttons give way to one "Report a new symptom" button.

        "Message is not modified" / "message to edit not found" settle the row as done: the
        message is already like that, or gone, and retrying cannot change it."""
        async with self.sessions() as db:
            view = await care.prepare_closed_edit(db, self.protocol, row)
        if isinstance(view, care.Skip):
            return Settled(view.reason)
        lang = view.patient.language
        text = (
            checkin_text(
                self.protocol, view.definition, view.context, view.answered, view.ref, lang
            )
            + "\n\n"
            + t("checkin_closed_edit", lang)
        )
        markup = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=t("btn_symptom", lang),
                        callback_data=SymptomCb(action="start").pack(),
                    )
                ]
            ]
        )
        try:
            await self.bot.edit_message_text(
                text=text, chat_id=row.chat_id, message_id=view.message_id, reply_markup=markup
            )
        except TelegramBadRequest as exc:
            if "not modified" not in exc.message and "not found" not in exc.message:
                raise
        async with self.sessions() as db:
            await self._mark_sent(db, row, view.message_id)
        return Sent(view.message_id)

    async def _exercise(self, row: OutboxMessage) -> Outcome:
        now = self.clock.now()
        tz = self.settings.clinic_timezone
        async with self.sessions() as db:
            prepared = await care.prepare_exercise(db, self.protocol, row, default_tz=tz, now=now)
            if isinstance(prepared, Patient):
                assert prepared.id is not None
                local_day = now.astimezone(patient_tz(prepared, tz)).date()
                sessions = await sessions_of(db, prepared.id)
                start = await course_start(db, prepared.id)
        if isinstance(prepared, care.Skip):
            return Settled(prepared.reason)
        if isinstance(prepared, care.Wait):
            return Deferred(prepared.until, prepared.reason)
        patient = prepared
        assert row.id is not None
        needling_day = any(
            s.ended_at.astimezone(patient_tz(patient, tz)).date() == local_day for s in sessions
        )
        text = self._exercise_text(patient, local_day, needling_day, start is None)
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=t("btn_snooze", patient.language),
                        callback_data=ExerciseCb(action="snooze").pack(),
                    ),
                    InlineKeyboardButton(
                        text=t("btn_stop_reminders", patient.language),
                        callback_data=ExerciseCb(action="stop").pack(),
                    ),
                ]
            ]
        )
        message = await self._send(row.chat_id, text, reply_markup=keyboard)
        async with self.sessions() as db:
            if row.payload.get("snoozed"):
                sent = await db.get(OutboxMessage, row.id)
                assert sent is not None
                sent.state, sent.sent_at = OutboxState.SENT, self.clock.now()
                sent.message_id = message.message_id
                await db.commit()
            else:
                await care.mark_exercise_sent(
                    db,
                    self.protocol,
                    row_id=row.id,
                    message_id=message.message_id,
                    default_tz=tz,
                    now=self.clock.now(),
                )
        return Sent(message.message_id)

    def _exercise_text(
        self, patient: Patient, day: date, needling_day: bool, no_course: bool
    ) -> str:
        lang = patient.language
        lines = [html.quote(reminder_text(self.protocol, needling_day=needling_day).get(lang))]
        if not needling_day and not no_course:
            chosen = [
                k for k in (patient.exercises or DEFAULT_EXERCISES) if k in self.protocol.exercises
            ]
            todays = exercises_for_day(self.protocol, chosen, day, needling_day=False)
            lines.append("")
            for exercise in todays:
                lines.append(
                    t(
                        "exercise_dose",
                        lang,
                        name=exercise.name.get(lang),
                        dose=exercise.dose.get(lang),
                    )
                )
            if not todays:
                lines.append(t("exercise_rest_day", lang))
        return "\n".join(lines)

    async def _digest(self, row: OutboxMessage) -> Outcome:
        """The therapist's daily digest, rendered from what is open at sending time."""
        async with self.sessions() as db:
            staff = await db.get(StaffMember, row.staff_id) if row.staff_id else None
            if staff is None or staff.id is None:
                await self._settle(db, row, OutboxState.CANCELLED, "therapist gone")
                return Settled("therapist gone")
            items = await digest_items(db, staff.id, now=self.clock.now())
            if not items:
                await self._settle(db, row, OutboxState.CANCELLED, "nothing to report")
                return Settled("nothing to report")
        lines = [f"<b>Daily digest</b> · {html.quote(str(row.payload.get('date', '')))}"]
        for item in items:
            line = (
                f"• <b>{html.quote(item.patient_name or '—')}</b> (#{item.patient_id}): "
                f"{html.quote(item.what)}"
            )
            if len("\n".join([*lines, line])) > 3800:
                lines.append(f"…and {len(items) - len(lines) + 1} more: see /patients")
                break
            lines.append(line)
        message = await self._send(row.chat_id, "\n".join(lines))
        async with self.sessions() as db:
            await self._mark_sent(db, row, message.message_id)
            await close_listed_routine(db, staff.id, staff_id=staff.id, now=self.clock.now())
        return Sent(message.message_id)

    async def _discharge(self, row: OutboxMessage) -> Outcome:
        """The closing message: the exercise plan to keep, and the safety line."""
        async with self.sessions() as db:
            patient = await db.get(Patient, row.patient_id) if row.patient_id else None
            if patient is None or patient.status == "deleted":
                await self._settle(db, row, OutboxState.CANCELLED, "patient gone")
                return Settled("patient gone")
        lang = patient.language
        chosen = [
            k for k in (patient.exercises or DEFAULT_EXERCISES) if k in self.protocol.exercises
        ]
        exercises = "\n".join(
            t(
                "exercise_dose",
                lang,
                name=self.protocol.exercises[k].name.get(lang),
                dose=self.protocol.exercises[k].dose.get(lang),
            )
            for k in chosen
        )
        text = t(
            "discharge_patient",
            lang,
            clinic=self.settings.clinic_name,
            exercises=Raw(exercises),
            safety=Raw(
                safety_line(lang, self.settings.emergency_number, self.settings.clinic_phone)
            ),
        )
        message = await self._send(row.chat_id, text)
        async with self.sessions() as db:
            await self._mark_sent(db, row, message.message_id)
        return Sent(message.message_id)

    async def _alert(self, row: OutboxMessage) -> Outcome:
        """An alert (or one step of its ladder, a re-send) to one chat; the copy is remembered
        so that every change of state can edit it later."""
        tz = self.settings.clinic_timezone
        payload = dict(row.payload)
        async with self.sessions() as db:
            alert = await db.get(Alert, row.alert_id) if row.alert_id else None
            follow_up = bool(payload.get("callback_overdue") or payload.get("rerouted"))
            if alert is None or not (
                alert.state == AlertState.OPEN or (follow_up and waiting(alert))
            ):
                await self._settle(db, row, OutboxState.CANCELLED, "alert no longer open")
                return Settled("alert no longer open")
            shown = _alert_version(alert)
            text, markup = await alert_card(db, alert, tz, payload=payload)
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
        async with self.sessions() as db:
            assert row.alert_id is not None
            # one copy per shown message, even if this row is delivered again
            copy = (
                await db.exec(
                    select(AlertCopy).where(
                        AlertCopy.alert_id == row.alert_id,
                        AlertCopy.chat_id == row.chat_id,
                        AlertCopy.message_id == message.message_id,
                    )
                )
            ).first()
            fresh = copy is None
            if copy is None:
                copy = AlertCopy(
                    alert_id=row.alert_id, chat_id=row.chat_id, message_id=message.message_id
                )
                db.add(copy)
            audit.record(
                db,
                now=self.clock.now(),
                action="alert_sent",
                actor_kind="system",
                subject_kind="alert",
                subject_id=row.alert_id,
                chat_id=row.chat_id,
                level=int(payload.get("level", 0)),
            )
            await self._mark_sent(db, row, message.message_id)
            # changed while this copy was on its way: it must be brought up to date too,
            # unless the change already queued its edit (it saw the copy committed above)
            current = await db.get(Alert, row.alert_id)
            if fresh and current is not None:
                await db.refresh(current)
                if _alert_version(current) != shown and not await _edit_queued(db, copy):
                    queue_copy_edit(db, current, copy, self.clock.now())
                    await db.commit()
        log.info("alert %s sent to chat %s", row.alert_id, row.chat_id)
        return Sent(message.message_id)

    async def _alert_notice(self, row: OutboxMessage) -> Outcome:
        """A short message replying to a shown card: a new finding updated it."""
        async with self.sessions() as db:
            copy = await db.get(AlertCopy, int(row.payload.get("copy_id", 0)))
            alert = await db.get(Alert, copy.alert_id) if copy else None
            if copy is None or alert is None:
                await self._settle(db, row, OutboxState.CANCELLED, "copy gone")
                return Settled("copy gone")
            text = await alert_notice(db, alert, int(row.payload.get("from", 0)))
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
        async with self.sessions() as db:
            await self._mark_sent(db, row, message.message_id)
        log.info("alert %s notice sent to chat %s", row.alert_id, row.chat_id)
        return Sent(message.message_id)

    async def _alert_edit(self, row: OutboxMessage) -> Outcome:
        """Bring one shown copy up to date (acknowledged, or seen again)."""
        tz = self.settings.clinic_timezone
        async with self.sessions() as db:
            copy = await db.get(AlertCopy, int(row.payload.get("copy_id", 0)))
            alert = await db.get(Alert, copy.alert_id) if copy else None
            if copy is None or alert is None:
                await self._settle(db, row, OutboxState.CANCELLED, "copy gone")
                return Settled("copy gone")
            text, markup = await alert_card(db, alert, tz)
        try:
            await self.bot.edit_message_text(
                text=text, chat_id=copy.chat_id, message_id=copy.message_id, reply_markup=markup
            )
        except TelegramBadRequest as exc:
            if "not modified" not in exc.message and "not found" not in exc.message:
                raise
        async with self.sessions() as db:
            await self._mark_sent(db, row, copy.message_id)
        return Sent(copy.message_id)

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
                reason = f"not redacted: {exc.message}"[:300]
                await self._settle(db, row, OutboxState.FAILED, reason)
            return Settled("message no longer editable")
        finally:
            mark_answered()
        async with self.sessions() as db:
            await self._mark_sent(db, row, message_id)
        return Sent(message_id)

    async def _settle(
        self, db: AsyncSession, row: OutboxMessage, state: OutboxState, reason: str
    ) -> None:
        stored = await db.get(OutboxMessage, row.id)
        if stored is not None:
            stored.state, stored.last_error = state, reason
            await db.commit()

    async def _mark_sent(self, db: AsyncSession, row: OutboxMessage, message_id: int) -> None:
        stored = await db.get(OutboxMessage, row.id)
        assert stored is not None
        stored.state, stored.sent_at, stored.message_id = (
            OutboxState.SENT,
            self.clock.now(),
            message_id,
        )
        await db.commit()

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
        async with self.sessions() as db:
            await self._mark_sent(db, row, copied.message_id)
        return Sent(copied.message_id)

    async def _safety_reply(self, row: OutboxMessage) -> Outcome:
        """The safety reply to an answer recorded for a patient not at the tap (a multi-select
        left standing): the same texts as at a tap, in the patient's language."""
        async with self.sessions() as db:
            patient = await db.get(Patient, row.patient_id) if row.patient_id else None
            if patient is None or patient.tg_user_id is None:
                await self._settle(db, row, OutboxState.CANCELLED, "patient gone")
                return Settled("patient gone")
        message = await self._send(
            row.chat_id,
            safety_reply_text(self.protocol, self.settings, patient.language, row.payload),
        )
        async with self.sessions() as db:
            await self._mark_sent(db, row, message.message_id)
        return Sent(message.message_id)

    async def _therapist_changed(self, row: OutboxMessage) -> Outcome:
        """/reassign: the patient hears who their therapist is now, in their language."""
        async with self.sessions() as db:
            patient = await db.get(Patient, row.patient_id) if row.patient_id else None
            therapist = await db.get(StaffMember, int(row.payload.get("therapist_id", 0)))
        if patient is None or therapist is None or patient.tg_user_id != row.chat_id:
            return Settled("patient or therapist gone")
        text = t(
            "therapist_changed",
            patient.language,
            clinic=self.settings.clinic_name,
            therapist=therapist.name,
        )
        message = await self._send(row.chat_id, text)
        async with self.sessions() as db:
            await self._mark_sent(db, row, message.message_id)
        return Sent(message.message_id)

    async def _notice(self, row: OutboxMessage) -> Outcome:
        async with self.sessions() as db:
            patient = await db.get(Patient, row.patient_id) if row.patient_id else None
        name = (patient.display_name if patient else None) or "—"
        key = (
            "notice_unreachable"
            if row.kind == "patient_unreachable"
            else row.payload.get("text", "notice_unreachable")
        )
        text = t(str(key), "en", name=name, patient_id=row.patient_id or 0)
        message = await self._send(row.chat_id, text)
        async with self.sessions() as db:
            await self._mark_sent(db, row, message.message_id)
        return Sent(message.message_id)


def safety_reply_text(
    protocol: Protocol, settings: Settings, lang: str, payload: dict[str, Any]
) -> str:
    """The "⚠️" reply of bot.routers.checkin for a queued reply's keys (tier, emergency,
    advice): the emergency text when the findings send the patient there."""
    values = {
        "emergency_number": settings.emergency_number,
        "clinic_phone": settings.clinic_phone,
        "clinic_name": settings.clinic_name,
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
