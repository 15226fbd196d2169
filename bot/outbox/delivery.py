"""Sending one planned row within the limiter: into the conversation the bot already has (continued) or
a new 1:1 chat (created, then sent into; the recorder stores the chat with the row's outcome).

The Teams calls themselves are behind `ProactiveChannel`, implemented at the edge by
`bot.teams.proactive.TeamsProactive` and wired in by `bot.app`; this module decides around them (the
limiter, storing a new chat first, a throttled tenant's pause).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from bot.outbox.addresses import ChatAddress, Existing, NewChat
from bot.outbox.composers import Message
from bot.outbox.config import SenderConfig
from bot.outbox.plans import Plan, SendResult
from bot.outbox.policy import Outcome, Reason, Verdict
from bot.outbox.throttle import RateLimiter
from frameworks.clock import Clock

__all__ = ["Delivery", "InChat", "InNewChat", "ProactiveChannel", "Send"]

# The sender's logger: what it says about a row keeps the name operators filter and count errors by.
log = logging.getLogger("bot.outbox.sender")

Send = Callable[[Message], Awaitable[Outcome | None]]
"""Sends a message into the turn's conversation: SENT with Teams' activity id, or None when the send
failed (the channel raises that error once the turn is over)."""

InChat = Callable[[Send], Awaitable[None]]
"""What to do inside a continued conversation's turn."""

InNewChat = Callable[[ChatAddress, Send], Awaitable[None]]
"""What to do inside a new 1:1 chat's first turn, given the chat Teams created."""


class ProactiveChannel(Protocol):
    """The Teams calls the sender makes: a conversation continued or a 1:1 chat created, and what a
    failed call means for its row."""

    async def bound_request_timeout(self, service_url: str, *, request_timeout: float) -> None:
        """Give the requests to this service URL the sender's timeout."""

    async def continue_chat(self, address: ChatAddress, in_chat: InChat, *, turn_timeout: float) -> None:
        """Run `in_chat` in a turn of the conversation; raises what its send raised."""

    async def create_chat(
        self, chat: NewChat, in_chat: InNewChat, *, bot_id: str, turn_timeout: float
    ) -> None:
        """Create the 1:1 chat and run `in_chat` in its first turn; raises what its send raised.
        `turn_timeout` bounds the creation and, again, the send."""

    def classify(self, error: BaseException, *, now: datetime) -> Outcome:
        """What a failed call means for its row."""


class Delivery:
    """Sends a planned row and says what Teams answered; a 429 pauses the whole tenant."""

    def __init__(
        self,
        channel: ProactiveChannel,
        *,
        limiter: RateLimiter,
        config: SenderConfig,
        bot_id: str,
        clock: Clock,
        rng: random.Random,
        stopping: Callable[[], bool],
    ) -> None:
        self._channel = channel
        self._limiter = limiter
        self._config = config
        self._bot_id = bot_id
        self._clock = clock
        self._rng = rng
        self._stopping = stopping

    async def send(self, plan: Plan) -> SendResult:
        target, message = plan.target, plan.message
        assert target is not None
        assert message is not None
        result = SendResult()
        try:
            await self._channel.bound_request_timeout(
                target.service_url if isinstance(target, NewChat) else target.address.service_url,
                request_timeout=self._config.request_timeout,
            )
            if isinstance(target, Existing):
                await self._continue(target, message, result, plan.granted)
            else:
                await self._create_and_send(target, message, result, plan.granted)
        except Exception as error:
            result.outcome = self._channel.classify(error, now=self._clock())
        if result.outcome is None:
            result.outcome = Outcome(Verdict.RETRY, Reason.TRANSIENT, "no answer from the send")
        if result.outcome.verdict is Verdict.THROTTLED:
            # Teams does not say which limit was hit, so the whole tenant waits (the safe reading).
            if result.outcome.retry_after is None:
                retry_after = self._config.backoff(plan.attempts, self._rng) + 1
                result.outcome = replace(result.outcome, retry_after=retry_after)
            self._limiter.pause(result.outcome.retry_after or 0, tenant=target.tenant)
        return result

    def deferred(self, target: Existing | NewChat) -> Outcome:
        """Not attempted: the limiter holds the thread or tenant back longer than `max_wait`."""
        delay = self._limiter.delay(target.thread_key, target.tenant)
        return Outcome(Verdict.DEFERRED, Reason.DEFERRED, f"held back {delay:.0f} s", retry_after=delay)

    async def _continue(self, target: Existing, message: Message, result: SendResult, granted: float) -> None:
        async def in_chat(send: Send) -> None:
            await self._send(send, message, result)

        try:
            await self._channel.continue_chat(target.address, in_chat, turn_timeout=self._turn_timeout)
        finally:
            self._limiter.settle(target.thread_key, target.tenant, granted)

    async def _create_and_send(
        self, target: NewChat, message: Message, result: SendResult, granted: float
    ) -> None:
        created = False

        async def in_chat(chat: ChatAddress, send: Send) -> None:
            nonlocal created
            created = True
            self._limiter.settle(target.thread_key, target.tenant, granted)
            result.chat = chat
            if self._stopping():
                result.outcome = Outcome(Verdict.STOPPED)
                return
            sending = await self._limiter.acquire(
                target.thread_key, target.tenant, max_wait=self._config.max_wait
            )
            if sending is None:
                result.outcome = self.deferred(target)
                return
            try:
                await self._send(send, message, result)
            finally:
                self._limiter.settle(target.thread_key, target.tenant, sending)

        try:
            await self._channel.create_chat(
                target, in_chat, bot_id=self._bot_id, turn_timeout=self._turn_timeout
            )
        finally:
            if not created:
                self._limiter.settle(target.thread_key, target.tenant, granted)

    @staticmethod
    async def _send(send: Send, message: Message, result: SendResult) -> None:
        outcome = await send(message)
        if outcome is not None:
            result.outcome = outcome

    @property
    def _turn_timeout(self) -> float:
        return self._config.request_timeout + 5
