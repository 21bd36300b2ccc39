"""The server-side update queue shared by long polling and webhook delivery.

Telegram keeps updates until the bot confirms them (``getUpdates`` with a higher
``offset``, or a 2xx from the webhook) and only creates updates of the types the
bot asked for in ``allowed_updates`` — an update of another type is dropped at
creation. The fake does the same and keeps the dropped ones in :attr:`dropped`, so
a test whose tap "did nothing" can see that the bot never subscribed to
``callback_query``.
"""

from __future__ import annotations

import itertools
from typing import Any

# What Telegram delivers when allowed_updates is empty or was never set.
DEFAULT_EXCLUDED = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class UpdateQueue:
    """Pending updates in order, with Telegram's confirmation and filtering rules."""

    def __init__(self, first_update_id: int = 100_000) -> None:
        self._ids = itertools.count(first_update_id)
        self.pending: list[dict[str, Any]] = []
        self.dropped: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []
        self.allowed_updates: list[str] | None = None

    def allows(self, kind: str) -> bool:
        """Whether an update of ``kind`` would be created under the current setting."""
        if not self.allowed_updates:
            return kind not in DEFAULT_EXCLUDED
        return kind in self.allowed_updates

    def push(self, kind: str, payload: dict[str, Any]) -> int:
        """Create an update; returns its id (also when it is dropped as not allowed)."""
        update_id = next(self._ids)
        update = {"update_id": update_id, kind: payload}
        if self.allows(kind):
            self.pending.append(update)
        else:
            self.dropped.append(update)
        return update_id

    def confirm(self, offset: int) -> None:
        """Forget updates below ``offset``; a negative offset keeps only the last -offset."""
        if offset < 0:
            keep = self.pending[offset:]
            self._forget([u for u in self.pending if u not in keep])
            return
        self._forget([u for u in self.pending if u["update_id"] < offset])

    def confirm_one(self, update_id: int) -> None:
        """Forget one update (webhook delivery succeeded)."""
        self._forget([u for u in self.pending if u["update_id"] == update_id])

    def drop_all(self) -> None:
        """``drop_pending_updates=True``."""
        self.pending.clear()

    def _forget(self, updates: list[dict[str, Any]]) -> None:
        for update in updates:
            self.pending.remove(update)
            self.delivered.append(update)

    def take(self, limit: int) -> list[dict[str, Any]]:
        """The first ``limit`` pending updates (they stay pending until confirmed)."""
        return list(self.pending[:limit])
