"""The outbox's Teams calls: a stored conversation continued, a new 1:1 chat created, a message sent in
the proactive turn, and what a failed call means for its row (`bot.outbox.delivery.ProactiveChannel`).

The SDK's outbound calls are `requests` calls in the loop's default thread pool (msrest), not aiohttp:
errors arrive as `ErrorResponseException` (status and headers on `.response`), azure-core's
`DeserializationError` (a non-JSON body, status unknown) or msrest's `ClientRequestError` (connection
refused, read timeout; urllib3 retries failed connects itself, about 5 s).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from azure.core.exceptions import DeserializationError
from botbuilder.core import CloudAdapterBase, TurnContext
from botbuilder.schema import ChannelAccount, ConversationParameters, ConversationReference
from msrest.exceptions import ClientRequestError, HttpOperationError

from bot.outbox.addresses import ChatAddress, NewChat
from bot.outbox.composers import Message
from bot.outbox.delivery import InChat, InNewChat, Send
from bot.outbox.policy import Outcome, Verdict, outcome_for_status, transient
from dialogs.messages import to_activity

__all__ = ["TeamsProactive", "classify"]

CHANNEL = "msteams"


def classify(error: BaseException, *, now: datetime) -> Outcome:
    """What a failed request means for its row (pure: the caller records it)."""
    if isinstance(error, HttpOperationError) and getattr(error.response, "status_code", None):
        headers = getattr(error.response, "headers", None) or {}
        return outcome_for_status(
            int(error.response.status_code),
            code=getattr(getattr(error.error, "error", None), "code", None),
            retry_after=headers.get("Retry-After"),
            now=now,
        )
    if isinstance(error, DeserializationError):
        return transient("answer was not JSON")
    if isinstance(error, ClientRequestError):
        inner = getattr(error, "inner_exception", None)
        return transient(type(inner or error).__name__)
    if isinstance(error, TimeoutError):
        return transient("timed out")
    return transient(type(error).__name__)


class _Caught:
    """What the send raised inside the turn, carried out of the adapter's pipeline, whose
    on_turn_error would log and swallow it."""

    def __init__(self) -> None:
        self.error: Exception | None = None

    def sender(self, context: TurnContext, *, timeout: float | None = None) -> Send:
        async def send(message: Message) -> Outcome | None:
            async with asyncio.timeout(timeout):
                # A proactive turn's activity has a made-up id; without clearing it the SDK would send
                # a reply to that id instead of a new message in the conversation.
                context.activity.id = None
                try:
                    response = await context.send_activity(to_activity(message))
                except Exception as error:
                    self.error = error
                    return None
                return Outcome(Verdict.SENT, activity_id=response.id if response else None)

        return send

    def raise_caught(self) -> None:
        if self.error is not None:
            raise self.error


class TeamsProactive:
    """The Bot Connector calls of proactive messages, through the bot's adapter."""

    def __init__(self, adapter: CloudAdapterBase, *, app_id: str) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._timed_urls: set[str] = set()

    def classify(self, error: BaseException, *, now: datetime) -> Outcome:
        return classify(error, now=now)

    async def continue_chat(self, address: ChatAddress, in_chat: InChat, *, turn_timeout: float) -> None:
        reference = ConversationReference.deserialize(address.reference)
        reference.service_url = address.service_url
        caught = _Caught()

        async def turn(context: TurnContext) -> None:
            await in_chat(caught.sender(context))

        async with asyncio.timeout(turn_timeout):
            await self._adapter.continue_conversation(reference, turn, bot_app_id=self._app_id)
        caught.raise_caught()

    async def create_chat(
        self, chat: NewChat, in_chat: InNewChat, *, bot_id: str, turn_timeout: float
    ) -> None:
        parameters = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=bot_id),
            members=[ChannelAccount(id=chat.user_id)],
            tenant_id=chat.tenant or None,
            channel_data={"tenant": {"id": chat.tenant}} if chat.tenant else None,
        )
        caught = _Caught()

        async def turn(context: TurnContext) -> None:
            deadline.reschedule(None)
            await in_chat(_created(context, chat), caught.sender(context, timeout=turn_timeout))

        async with asyncio.timeout(turn_timeout) as deadline:
            await self._adapter.create_conversation(self._app_id, turn, parameters, CHANNEL, chat.service_url)
        caught.raise_caught()

    async def bound_request_timeout(self, service_url: str, *, request_timeout: float) -> None:
        """Give the connector client for this service URL our timeout (msrest's default is 100 s).

        The adapter from `bot.teams.adapter` reuses one client per service URL, so setting it once holds;
        with another adapter it only misses, and the asyncio timeout around each send still applies.
        """
        if service_url in self._timed_urls:
            return
        authentication = self._adapter.bot_framework_authentication
        factory = authentication.create_connector_factory(self._adapter.create_claims_identity(self._app_id))
        client = await factory.create(service_url, None)
        client.config.connection.timeout = request_timeout
        self._timed_urls.add(service_url)


def _created(context: TurnContext, chat: NewChat) -> ChatAddress:
    """The 1:1 chat Teams just created, as the next row will continue it."""
    reference = TurnContext.get_conversation_reference(context.activity)
    reference.activity_id = None
    reference.user = ChannelAccount(id=chat.user_id)
    assert reference.conversation is not None
    reference.conversation.conversation_type = "personal"
    return ChatAddress(chat.service_url, reference.conversation.id, reference.serialize())
