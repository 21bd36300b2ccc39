"""What a SIGKILL left in flight: the kill figures of design invariant 2.

A kill may send a message twice only if its request was in flight at that moment:
Telegram (the fake) has accepted it, but the database does not yet record its row as
sent, so the next process sends the row again. :class:`KillLedger` measures exactly
that at each kill — the sends of the run just killed whose ``(chat_id, message_id)``
no ``sent`` outbox row carries — so a test can assert that duplicates ≤ in-flight
rather than the looser duplicates ≤ rows claimed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlmodel import col, func, select

from store.db import create_engine, session_factory
from store.models import OutboxMessage, OutboxState
from tests.fakebot import FakeBotAPI, RecordedRequest


@dataclass(frozen=True)
class Kill:
    """One SIGKILL: rows the dead process held claimed, and its sends not recorded as sent."""

    claimed: int
    in_flight: int


@dataclass
class KillLedger:
    """Kill figures across the runs of one test.

    `counted` picks the requests the test counts duplicates among (a check-in's first
    question, say): in-flight is measured on the same messages as the duplicates.
    Call :meth:`run_starts` before each process starts and :meth:`killed` after it died.
    """

    fake: FakeBotAPI
    db_url: str
    counted: Callable[[RecordedRequest], bool]
    kills: list[Kill] = field(default_factory=list)
    _since: int = 0

    def run_starts(self) -> None:
        self._since = len(self.fake.requests)

    async def killed(self, worker: str | None = None) -> Kill:
        """Measure the kill just made (the process has exited): read the database first —
        nothing writes to it any more — then the fake, so a request the fake was still
        answering when the process died is among the sends looked at."""
        engine = create_engine(self.db_url)
        async with session_factory(engine)() as db:
            recorded = {
                (int(chat), int(message))
                for chat, message in (
                    await db.exec(
                        select(OutboxMessage.chat_id, OutboxMessage.message_id).where(
                            OutboxMessage.state == OutboxState.SENT,
                            col(OutboxMessage.message_id).is_not(None),
                        )
                    )
                ).all()
                if message is not None
            }
            held = select(func.count()).where(OutboxMessage.state == OutboxState.CLAIMED)
            if worker is not None:
                held = held.where(OutboxMessage.claimed_by == worker)
            claimed = int((await db.exec(held)).one())
        await engine.dispose()
        sends = [
            (int(r.params["chat_id"]), int(r.result["message_id"]))
            for r in self.fake.requests[self._since :]
            if r.method == "sendMessage" and r.status == 200 and self.counted(r)
        ]
        kill = Kill(claimed=claimed, in_flight=sum(1 for s in sends if s not in recorded))
        self.kills.append(kill)
        return kill

    @property
    def in_flight(self) -> int:
        return sum(k.in_flight for k in self.kills)

    @property
    def claimed(self) -> int:
        return sum(k.claimed for k in self.kills)

    def summary(self, duplicates: int) -> str:
        return (
            f"kills {len(self.kills)}; claimed at the kills {[k.claimed for k in self.kills]} "
            f"(total {self.claimed}); in flight {[k.in_flight for k in self.kills]} "
            f"(total {self.in_flight}); duplicates {duplicates}"
        )


def tolerated_after_a_kill(fake: FakeBotAPI, request: RecordedRequest) -> bool:
    """What a killed process leaves Telegram to refuse, and nothing else:

    * the dead process's long poll, ended by the next process's ``getUpdates`` (409);
    * a tap handled and answered just before a kill, whose update was not yet confirmed:
      Telegram sends it again, the new process finds the answer stored and answers the
      query a second time ("query is too old").
    """
    if request.method == "getUpdates" and request.status in (0, 409):
        return True
    if request.method == "answerCallbackQuery" and request.status == 400:
        record = fake.callbacks.get(str(request.params.get("callback_query_id")))
        return record is not None and record.answered
    return False
