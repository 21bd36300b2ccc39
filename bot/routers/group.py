"""Groups (the clinic's `ALERT_CHAT_ID`): an alert card's buttons, and nothing else.

Invariant 10: every other router takes private chats only (bot/app.py puts them under
one private-chat router). In a group the bot posts nothing in answer to anyone: commands
and typed words there are ignored (no reply, nothing stored). On the group's alert copy,
Acknowledge and Call back done work for staff allowed to act on the alert, and History
(like any card button) sends the card to the tapper's private chat, or tells them in a
toast — seen by them alone — to open one first. Any other button gets a toast only.
"""

from __future__ import annotations

from aiogram import Router

from bot.callbacks import PatientCardCb
from bot.filters import ON_GROUP_MESSAGE, HasRole
from bot.routers.fallback import any_callback
from bot.routers.therapist import patient_card_button, register_alert_buttons
from store.models import Role


def make_router() -> Router:
    """A fresh router (one per dispatcher: aiogram routers attach to one parent)."""
    router = Router(name="group")
    router.callback_query.filter(ON_GROUP_MESSAGE)
    staff = Router(name="group_staff")
    staff.callback_query.filter(HasRole(Role.THERAPIST, Role.ADMIN))
    register_alert_buttons(staff)
    staff.callback_query.register(patient_card_button, PatientCardCb.filter())
    rest = Router(name="group_rest")  # a router's own handlers come before its children
    rest.callback_query.register(any_callback)  # a toast to the tapper, nothing posted
    router.include_routers(staff, rest)
    return router
