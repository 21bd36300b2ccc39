"""The one clock of the process, optionally running faster than the wall clock.

With ``TIME_SCALE=N`` protocol time passes N times faster than real time, so a
clinic can preview two days of aftercare in minutes and end-to-end tests can run
the real process through them. The anchor (a wall instant and the protocol
instant it maps to) is stored in the database the first time a process runs
against it, so protocol time keeps running — scaled, downtime included — across
restarts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from store import app_state
from store.models import AppState

_KEY = "clock_anchor"


class Clock:
    """Protocol time = anchor_protocol + (wall − anchor_wall) × scale."""

    def __init__(
        self,
        scale: float = 1.0,
        *,
        anchor_wall: datetime | None = None,
        anchor_protocol: datetime | None = None,
        wall: Callable[[], datetime] | None = None,
    ) -> None:
        self._wall = wall or (lambda: datetime.now(UTC))
        self.scale = scale
        self.anchor_wall = anchor_wall or self._wall()
        self.anchor_protocol = anchor_protocol or self.anchor_wall

    def now(self) -> datetime:
        elapsed = self._wall() - self.anchor_wall
        return self.anchor_protocol + elapsed * self.scale

    def to_wall_seconds(self, protocol_delta: timedelta) -> float:
        """How many real seconds a stretch of protocol time takes."""
        return max(protocol_delta.total_seconds() / self.scale, 0.0)

    def monotonic(self) -> float:
        return time.monotonic()

    async def anchor(self, db: AsyncSession) -> None:
        """Load the stored anchor, or store ours; re-anchor if the scale changed.

        A changed scale starts a new anchor at the current protocol time so time
        never jumps backwards. The first anchor is an insert-if-missing, then a
        read (one unit of work of store.app_state): two instances starting at once
        on an empty database both end up on the one anchor that won, instead of one
        dying on the primary key.
        """
        stored = await app_state.setdefault(db, _KEY, self._encoded())
        if self._adopt(stored):
            await app_state.store(db, _KEY, self._encoded())

    def _adopt(self, stored: str) -> bool:
        """Run on the stored anchor; at a new scale, from a new anchor (True: to be stored
        in its place)."""
        wall_s, proto_s, scale_s = stored.split("|")
        previous = Clock(
            float(scale_s),
            anchor_wall=datetime.fromisoformat(wall_s),
            anchor_protocol=datetime.fromisoformat(proto_s),
            wall=self._wall,
        )
        if float(scale_s) == self.scale:
            self.anchor_wall, self.anchor_protocol = previous.anchor_wall, previous.anchor_protocol
            return False
        self.anchor_wall, self.anchor_protocol = self._wall(), previous.now()
        return True

    def set_scale(self, scale: float) -> None:
        """Run protocol time `scale` times faster from now on, without a jump.

        Re-anchoring at the current instant keeps `now()` continuous: only the
        slope changes. Call :meth:`save` so a restart keeps it.
        """
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        wall = self._wall()
        protocol = self.anchor_protocol + (wall - self.anchor_wall) * self.scale
        self.anchor_wall, self.anchor_protocol, self.scale = wall, protocol, scale

    def jump_to(self, protocol_instant: datetime) -> bool:
        """Move protocol time forward to `protocol_instant` (a preview skipping ahead).

        Never backwards: what was sent, answered or expired stays in the past.
        Returns whether the clock moved. Call :meth:`save` so a restart keeps it.
        """
        if protocol_instant <= self.now():
            return False
        self.anchor_wall, self.anchor_protocol = self._wall(), protocol_instant
        return True

    async def save(self, db: AsyncSession) -> None:
        """Store the current anchor and scale (after `set_scale` or `jump_to`)."""
        await app_state.store(db, _KEY, self._encoded())

    @staticmethod
    async def stored_scale(db: AsyncSession) -> float | None:
        """The scale the database's clock last ran at, if it has an anchor."""
        row = await db.get(AppState, _KEY)
        return float(row.value.split("|")[2]) if row is not None and row.value else None

    def _encoded(self) -> str:
        return f"{self.anchor_wall.isoformat()}|{self.anchor_protocol.isoformat()}|{self.scale}"
