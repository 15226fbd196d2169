"""What the sender knows about a row it claimed (its plan), what a send attempt came to, and which rows
of each fan-out it still holds: shared by the worker, the Teams delivery and the recorder."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from bot.outbox.addresses import ChatAddress, Existing, NewChat
from bot.outbox.policy import Outcome
from dialogs.messages import Message
from storage.tables import OutboxKind


@dataclass
class Plan:
    id: int
    attempts: int
    claimed_until: datetime
    kind: OutboxKind
    message: Message | None = None
    """What to send, built by the row's composer; None when there is nothing to send any more."""
    target: Existing | NewChat | None = None
    problem: Outcome | None = None
    fanout: str | None = None
    report_to: int | None = None
    survey_id: int | None = None
    person_id: int | None = None
    granted: float = 0.0
    """When the limiter let its first request go."""
    holding: bool = False
    """Counted in the sender's rows in hand of its fan-out (until recorded or given up)."""
    committing: bool = False


@dataclass
class SendResult:
    outcome: Outcome | None = None
    chat: ChatAddress | None = None
    """The new 1:1 chat, once created: stored with the outcome, whatever it is, so the row's next
    attempt (and the person's next row) continues it. If the process dies before that commit, the next
    attempt creates it again, and Teams answers with the same 1:1 chat."""


class InHand:
    """The rows of each fan-out a sender claimed and has not yet recorded, and the lock under which
    they are recorded one at a time (so the last one knows the others have committed)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._locks: dict[str, asyncio.Lock] = {}

    def hold(self, plan: Plan) -> None:
        if plan.fanout is not None:
            plan.holding = True
            self._counts[plan.fanout] += 1

    def let_go(self, plan: Plan) -> None:
        if plan.holding and plan.fanout is not None:
            plan.holding = False
            self._counts[plan.fanout] -= 1
            if self._counts[plan.fanout] <= 0:
                del self._counts[plan.fanout]
                self._locks.pop(plan.fanout, None)

    def lock(self, fanout: str) -> asyncio.Lock:
        return self._locks.setdefault(fanout, asyncio.Lock())

    def is_last(self, fanout: str) -> bool:
        """Only this row of the fan-out is still held here."""
        return self._counts[fanout] == 1
