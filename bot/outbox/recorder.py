"""What became of a sent row, recorded in its own short transaction straight after Teams answered: the
new 1:1 chat if any, the row's outcome, an invitation's delivery state, and the fan-out's report when
this was its last row."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from bot.outbox.addresses import ChatAddress, NewChat
from bot.outbox.config import SenderConfig
from bot.outbox.plans import InHand, Plan, SendResult
from bot.outbox.policy import Outcome, Reason, Verdict
from bot.outbox.report import report_if_done
from frameworks.clock import Clock
from storage.conversations import save_reference
from storage.db import Session, Sessions, again_on_lost_connection, transaction
from storage.invitations import record_delivery
from storage.outbox import (
    SKIPPED_NOTE,
    mark_failed,
    mark_retry,
    mark_sent,
    mark_skipped,
    postpone,
)
from storage.tables import DeliveryState, OutboxKind

# The sender's logger: what it says about a row keeps the name operators filter and count errors by.
log = logging.getLogger("bot.outbox.sender")

RECORD_ATTEMPTS = 3
"""Tries to record an outcome whose database connection dropped: each try gets a fresh connection."""


class OutboxRecorder:
    """Stores each send's outcome and decides, for a failure, whether and when the row is tried again."""

    def __init__(
        self,
        sessions: Sessions,
        *,
        config: SenderConfig,
        bot_id: str,
        clock: Clock,
        rng: random.Random,
        in_hand: InHand,
    ) -> None:
        self._sessions = sessions
        self._config = config
        self._bot_id = bot_id
        self._clock = clock
        self._rng = rng
        self._in_hand = in_hand

    async def record(self, plan: Plan, result: SendResult) -> None:
        """Record, again at once when the database connection dropped under it (the pool does not
        hand that connection out again): a send Teams accepted and left unrecorded would be sent a
        second time once its lease ran out."""
        await again_on_lost_connection(
            lambda: self._record(plan, result),
            attempts=RECORD_ATTEMPTS,
            on_retry=lambda: log.warning(
                "recording outbox row %s: lost the database connection; recording it again", plan.id
            ),
        )

    async def remember(self, session: Session, target: NewChat, chat: ChatAddress, *, now: datetime) -> None:
        """Store a 1:1 chat Teams created, so that the person's next row continues it."""
        await save_reference(
            session,
            conversation_id=chat.conversation_id,
            service_url=target.service_url,
            reference=chat.reference,
            conversation_type="personal",
            tenant_id=target.tenant or None,
            bot_id=self._bot_id,
            person_id=target.person_id,
            now=now,
        )

    async def _record(self, plan: Plan, result: SendResult) -> None:
        """One short transaction: the new chat if any, the outcome, and the fan-out's report if this
        was its last row.

        Whether it was is asked only by a sender's last row of that fan-out in hand: while it holds
        others, they are not done yet. Its rows of one fan-out are recorded one at a time, so that
        last one runs after the others have committed.
        """
        outcome = result.outcome
        assert outcome is not None
        if plan.fanout is None or plan.report_to is None:
            await self._store(plan, result, outcome, last=False)
            return
        async with self._in_hand.lock(plan.fanout):
            await self._store(plan, result, outcome, last=self._in_hand.is_last(plan.fanout))
            self._in_hand.let_go(plan)

    async def _store(self, plan: Plan, result: SendResult, outcome: Outcome, *, last: bool) -> None:
        now = self._clock()
        async with transaction(self._sessions) as session:
            if result.chat is not None:
                assert isinstance(plan.target, NewChat)
                await self.remember(session, plan.target, result.chat, now=now)
            terminal = await self._apply(session, plan, outcome, now=now)
            if terminal and last and plan.fanout and plan.report_to is not None:
                await report_if_done(session, plan.fanout, plan.report_to, now=now)
        if outcome.verdict is Verdict.FAILED or (outcome.verdict is Verdict.RETRY and terminal):
            log.warning("outbox row %s failed: %s", plan.id, outcome.error)

    async def _apply(self, session: Session, plan: Plan, outcome: Outcome, *, now: datetime) -> bool:
        """Store the outcome, and an invitation's delivery state with it; True when the row is now
        final (sent or failed)."""
        match outcome.verdict:
            case Verdict.SENT:
                await mark_sent(session, message_id=plan.id, now=now, activity_id=outcome.activity_id)
                await self._invitation(session, plan, DeliveryState.SENT, plan.attempts + 1)
                return True
            case Verdict.SKIPPED:
                await mark_skipped(session, message_id=plan.id, now=now)
                await self._invitation(session, plan, DeliveryState.SKIPPED, plan.attempts, SKIPPED_NOTE)
                return True
            case Verdict.FAILED:
                await mark_failed(session, message_id=plan.id, error=outcome.error)
                await self._invitation(session, plan, DeliveryState.FAILED, plan.attempts + 1, outcome.error)
                return True
            case Verdict.THROTTLED | Verdict.DEFERRED:
                wait = outcome.retry_after or 0.0
                await postpone(
                    session,
                    message_id=plan.id,
                    retry_at=now + timedelta(seconds=wait),
                    error=outcome.error,
                )
                await self._invitation(session, plan, DeliveryState.RETRYING, plan.attempts, outcome.error)
                return False
            case Verdict.RETRY:
                if plan.attempts + 1 >= self._config.max_attempts:
                    failed = Outcome(
                        Verdict.FAILED,
                        Reason.UNREACHABLE,
                        f"{plan.attempts + 1} attempts, last {outcome.error}",
                    )
                    await mark_failed(session, message_id=plan.id, error=failed.error)
                    await self._invitation(
                        session, plan, DeliveryState.FAILED, plan.attempts + 1, failed.error
                    )
                    return True
                wait = self._config.backoff(plan.attempts, self._rng)
                if outcome.retry_after is not None:
                    wait = max(wait, outcome.retry_after)
                await mark_retry(
                    session, message_id=plan.id, error=outcome.error, retry_at=now + timedelta(seconds=wait)
                )
                await self._invitation(
                    session, plan, DeliveryState.RETRYING, plan.attempts + 1, outcome.error
                )
                return False
            case Verdict.STOPPED:
                return False
        return False

    @staticmethod
    async def _invitation(
        session: Session, plan: Plan, state: DeliveryState, attempts: int, error: str | None = None
    ) -> None:
        """An invitation row says what became of its message, in the transaction recording it."""
        if plan.kind == OutboxKind.INVITE and plan.survey_id is not None and plan.person_id is not None:
            await record_delivery(
                session,
                survey_id=plan.survey_id,
                person_id=plan.person_id,
                state=state,
                attempts=attempts,
                error=error,
            )
