"""Typed callback data: ids and small values only, never personal data (≤ 64 bytes)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class InviteRoleCb(CallbackData, prefix="inv"):
    role: str


class EnrollTherapistCb(CallbackData, prefix="et"):
    staff_id: int


class EnrollTimeCb(CallbackData, prefix="etm"):
    minutes_ago: int


class EnrollRegionCb(CallbackData, prefix="erg"):
    key: str


class EnrollRegionsDoneCb(CallbackData, prefix="ergd"):
    pass


class EnrollBaselineCb(CallbackData, prefix="ebl"):
    value: int


class ConsentCb(CallbackData, prefix="cs"):
    patient_id: int
    agree: bool
