"""The clock's controls: a new speed without a jump, skipping ahead, kept across restarts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scheduler.clock import Clock
from store.db import SessionFactory
from tests.support.harness import START, ManualWall


def test_a_new_scale_changes_the_slope_not_the_time() -> None:
    wall = ManualWall(START)
    clock = Clock(60, wall=wall)
    wall.advance(timedelta(minutes=1))
    assert clock.now() == START + timedelta(hours=1)
    clock.set_scale(3600)
    assert clock.now() == START + timedelta(hours=1)  # no jump at the change
    wall.advance(timedelta(seconds=2))
    assert clock.now() == START + timedelta(hours=3)
    with pytest.raises(ValueError):
        clock.set_scale(0)


def test_jump_goes_forward_only() -> None:
    wall = ManualWall(START)
    clock = Clock(1, wall=wall)
    assert clock.jump_to(START + timedelta(hours=3)) is True
    assert clock.now() == START + timedelta(hours=3)
    assert clock.jump_to(START) is False  # never back into what already happened
    wall.advance(timedelta(minutes=5))
    assert clock.now() == START + timedelta(hours=3, minutes=5)


async def test_saved_anchor_and_scale_survive_a_restart(sessions: SessionFactory) -> None:
    wall = ManualWall(START)
    clock = Clock(1, wall=wall)
    async with sessions() as db:
        assert await Clock.stored_scale(db) is None
        await clock.anchor(db)
    clock.set_scale(3600)
    clock.jump_to(START + timedelta(hours=5))
    async with sessions() as db:
        await clock.save(db)
    wall.advance(timedelta(seconds=10))  # down for ten seconds: ten protocol hours
    async with sessions() as db:
        scale = await Clock.stored_scale(db)
        assert scale == 3600
        restarted = Clock(scale, wall=wall)
        await restarted.anchor(db)
    assert restarted.now() == START + timedelta(hours=15)
