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
        never jumps backwards.
        """
        row = await db.get(AppState, _KEY)
        if row is not None:
            wall_s, proto_s, scale_s = row.value.split("|")
            stored = Clock(
                float(scale_s),
                anchor_wall=datetime.fromisoformat(wall_s),
                anchor_protocol=datetime.fromisoformat(proto_s),
                wall=self._wall,
            )
            if float(scale_s) == self.scale:
                self.anchor_wall, self.anchor_protocol = stored.anchor_wall, stored.anchor_protocol
                return
            self.anchor_wall, self.anchor_protocol = self._wall(), stored.now()
        else:
            row = AppState(key=_KEY, value="")
            db.add(row)
        row.value = (
            f"{self.anchor_wall.isoformat()}|{self.anchor_protocol.isoformat()}|{self.scale}"
        )
        await db.commit()
