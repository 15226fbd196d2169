"""The sender's Teams calls: one planned row sent within the limiter, into the conversation the bot
already has (continued) or a new 1:1 chat (created, stored at once, then sent into).

The SDK's outbound calls are `requests` calls in the loop's default thread pool (msrest), not aiohttp:
errors arrive as `ErrorResponseException` (status and headers on `.response`), azure-core's
`DeserializationError` (a non-JSON body, status unknown) or msrest's `ClientRequestError` (connection
refused, read timeout; urllib3 retries failed connects itself, about 5 s).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import replace

from botbuilder.core import CloudAdapterBase, TurnContext
from botbuilder.schema import Activity, ChannelAccount, ConversationParameters

from bot.outbox.addresses import Existing, NewChat
from bot.outbox.config import SenderConfig
from bot.outbox.plans import Plan, SendResult
from bot.outbox.policy import Outcome, Reason, Verdict, classify
from bot.outbox.recorder import OutboxRecorder
from bot.outbox.throttle import RateLimiter
from frameworks.clock import Clock
from storage.db import Sessions, transaction

# The sender's logger: what it says about a row keeps the name operators filter and count errors by.
log = logging.getLogger("bot.outbox.sender")

CHANNEL = "msteams"


class TeamsDelivery:
    """Sends a planned row to Teams and says what Teams answered; a 429 pauses the whole tenant."""

    def __init__(
        self,
        adapter: CloudAdapterBase,
        *,
        sessions: Sessions,
        recorder: OutboxRecorder,
        limiter: RateLimiter,
        config: SenderConfig,
        app_id: str,
        bot_id: str,
        clock: Clock,
        rng: random.Random,
        stopping: Callable[[], bool],
    ) -> None:
        self._adapter = adapter
        self._sessions = sessions
        self._recorder = recorder
        self._limiter = limiter
        self._config = config
        self._app_id = app_id
        self._bot_id = bot_id
        self._clock = clock
        self._rng = rng
        self._stopping = stopping
        self._timed_urls: set[str] = set()

    async def send(self, plan: Plan) -> SendResult:
        target, activity = plan.target, plan.activity
        assert target is not None
        assert activity is not None
        result = SendResult()
        try:
            await self._bound_request_timeout(
                target.service_url if isinstance(target, NewChat) else target.reference.service_url
            )
            if isinstance(target, Existing):
                await self._continue(target, activity, result, plan.granted)
            else:
                await self._create_and_send(target, activity, result, plan.granted)
        except Exception as error:
            result.outcome = classify(error, now=self._clock())
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

    async def _continue(
        self, target: Existing, activity: Activity, result: SendResult, granted: float
    ) -> None:
        async def send(context: TurnContext) -> None:
            await self._send_in_turn(context, activity, result)

        try:
            async with asyncio.timeout(self._turn_timeout):
                await self._adapter.continue_conversation(target.reference, send, bot_app_id=self._app_id)
        finally:
            self._limiter.settle(target.thread_key, target.tenant, granted)
        result.raise_caught()

    async def _create_and_send(
        self, target: NewChat, activity: Activity, result: SendResult, granted: float
    ) -> None:
        parameters = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=self._bot_id),
            members=[ChannelAccount(id=target.user_id)],
            tenant_id=target.tenant or None,
            channel_data={"tenant": {"id": target.tenant}} if target.tenant else None,
        )

        created = False

        async def send(context: TurnContext) -> None:
            nonlocal created
            deadline.reschedule(None)
            created = True
            self._limiter.settle(target.thread_key, target.tenant, granted)
            reference = TurnContext.get_conversation_reference(context.activity)
            reference.activity_id = None
            reference.user = ChannelAccount(id=target.user_id)
            if reference.conversation is not None:
                reference.conversation.conversation_type = "personal"
            result.reference = reference
            await self._keep_chat(target, result)
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
                async with asyncio.timeout(self._turn_timeout):
                    await self._send_in_turn(context, activity, result)
            finally:
                self._limiter.settle(target.thread_key, target.tenant, sending)

        try:
            async with asyncio.timeout(self._turn_timeout) as deadline:
                await self._adapter.create_conversation(
                    self._app_id, send, parameters, CHANNEL, target.service_url
                )
        finally:
            if not created:
                self._limiter.settle(target.thread_key, target.tenant, granted)
        result.raise_caught()

    async def _keep_chat(self, target: NewChat, result: SendResult) -> None:
        """Store the chat Teams just created, before sending into it: if this process dies before the
        send is recorded, the retry continues this chat instead of creating it again. If storing
        fails, the outcome's transaction tries again."""
        assert result.reference is not None
        try:
            async with transaction(self._sessions) as session:
                await self._recorder.remember(session, target, result.reference, now=self._clock())
        except Exception as error:
            log.warning("storing a new 1:1 chat failed (%s); kept with the outcome", type(error).__name__)
            return
        result.chat_stored = True

    async def _send_in_turn(self, context: TurnContext, activity: Activity, result: SendResult) -> None:
        # A proactive turn's activity has a made-up id; without clearing it the SDK would send a reply
        # to that id instead of a new message in the conversation.
        context.activity.id = None
        try:
            response = await context.send_activity(activity)
        except Exception as error:
            result.error = error
            return
        result.outcome = Outcome(Verdict.SENT, activity_id=response.id if response else None)

    @property
    def _turn_timeout(self) -> float:
        return self._config.request_timeout + 5

    async def _bound_request_timeout(self, service_url: str) -> None:
        """Give the connector client for this service URL our timeout (msrest's default is 100 s).

        The adapter from `bot.teams.adapter` reuses one client per service URL, so setting it once holds;
        with another adapter it only misses, and the asyncio timeout around each send still applies.
        """
        if service_url in self._timed_urls:
            return
        authentication = self._adapter.bot_framework_authentication
        factory = authentication.create_connector_factory(self._adapter.create_claims_identity(self._app_id))
        client = await factory.create(service_url, None)
        client.config.connection.timeout = self._config.request_timeout
        self._timed_urls.add(service_url)
