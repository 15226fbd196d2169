"""The outbox's Teams calls: a stored conversation continued, a new 1:1 chat created, a message sent
into it, and what a failed call means for its row (`bot.outbox.delivery.ProactiveChannel`).

The calls go straight to the Bot Connector (`bot.teams.connector`), with no turn around them: a sent
message is addressed as the SDK addressed a proactive one (channel, service URL, conversation, the bot
as sender, the person as recipient), from the conversation reference stored as JSON. A failure is a
`ConnectorError` (Teams' status, error code and Retry-After, or no usable answer), the bot's missing
token (`AppTokenUnavailable`), or a `TimeoutError` from the sender's bound on a request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.outbox.addresses import ChatAddress, NewChat
from bot.outbox.composers import Message
from bot.outbox.delivery import InChat, InNewChat, Send
from bot.outbox.policy import Outcome, Verdict, outcome_for_status, transient
from bot.teams.connector import BotConnector, ConnectorError
from dialogs.activity_json import message_json

__all__ = ["CHANNEL", "TeamsProactive", "classify"]

CHANNEL = "msteams"


def classify(error: BaseException, *, now: datetime) -> Outcome:
    """What a failed request means for its row (pure: the caller records it)."""
    if isinstance(error, ConnectorError):
        if error.status is None:
            return transient(error.reason)
        return outcome_for_status(error.status, code=error.code, retry_after=error.retry_after, now=now)
    if isinstance(error, TimeoutError):
        return transient("timed out")
    return transient(type(error).__name__)


class _Caught:
    """What a send raised, kept until the conversation's work is done: a `Send` answers None for a
    failed send (bot.outbox.delivery), and the channel raises its error afterwards."""

    def __init__(self) -> None:
        self.error: Exception | None = None

    def sender(self, connector: BotConnector, address: ChatAddress, *, within: float) -> Send:
        envelope = _envelope(address)

        async def send(message: Message) -> Outcome | None:
            try:
                async with asyncio.timeout(within):
                    sent = await connector.send(
                        address.service_url, address.conversation_id, {**message_json(message), **envelope}
                    )
            except Exception as error:
                self.error = error
                return None
            return Outcome(Verdict.SENT, activity_id=sent)

        return send

    def raise_caught(self) -> None:
        if self.error is not None:
            raise self.error


class TeamsProactive:
    """The Bot Connector calls of proactive messages."""

    def __init__(self, connector: BotConnector) -> None:
        self._connector = connector
        self._request_timeout: float | None = None

    def classify(self, error: BaseException, *, now: datetime) -> Outcome:
        return classify(error, now=now)

    async def bound_request_timeout(self, service_url: str, *, request_timeout: float) -> None:
        """Each request from now on is bounded by the sender's timeout (the same for every service URL),
        within the connector's own (`bot.teams.connector.REQUEST_TIMEOUT`)."""
        self._request_timeout = request_timeout

    async def continue_chat(self, address: ChatAddress, in_chat: InChat, *, turn_timeout: float) -> None:
        caught = _Caught()
        async with asyncio.timeout(turn_timeout):
            await in_chat(caught.sender(self._connector, address, within=self._bound(turn_timeout)))
        caught.raise_caught()

    async def create_chat(
        self, chat: NewChat, in_chat: InNewChat, *, bot_id: str, turn_timeout: float
    ) -> None:
        parameters: dict[str, Any] = {
            "isGroup": False,
            "bot": {"id": bot_id},
            "members": [{"id": chat.user_id}],
        }
        if chat.tenant:
            parameters |= {"tenantId": chat.tenant, "channelData": {"tenant": {"id": chat.tenant}}}
        async with asyncio.timeout(self._bound(turn_timeout)):
            conversation_id = await self._connector.create_conversation(chat.service_url, parameters)
        caught = _Caught()
        created = _created(chat, conversation_id, bot_id)
        await in_chat(created, caught.sender(self._connector, created, within=self._bound(turn_timeout)))
        caught.raise_caught()

    def _bound(self, turn_timeout: float) -> float:
        """A request's time limit: the sender's request timeout, never beyond the turn's."""
        return turn_timeout if self._request_timeout is None else min(turn_timeout, self._request_timeout)


def _created(chat: NewChat, conversation_id: str, bot_id: str) -> ChatAddress:
    """The 1:1 chat Teams just created, as the next row will continue it (a ConversationReference's JSON)."""
    conversation: dict[str, Any] = {"conversationType": "personal", "id": conversation_id}
    if chat.tenant:
        conversation["tenantId"] = chat.tenant
    reference = {
        "user": {"id": chat.user_id},
        "bot": {"id": bot_id},
        "conversation": conversation,
        "channelId": CHANNEL,
        "serviceUrl": chat.service_url,
    }
    return ChatAddress(chat.service_url, conversation_id, reference)


def _envelope(address: ChatAddress) -> dict[str, Any]:
    """Where a proactive message goes and from whom, from the stored reference, as the SDK applied a
    reference to an outgoing activity."""
    reference: Mapping[str, Any] = address.reference
    envelope = {
        "serviceUrl": address.service_url,
        "channelId": reference.get("channelId"),
        "from": reference.get("bot"),
        "conversation": reference.get("conversation"),
        "recipient": reference.get("user"),
        "locale": reference.get("locale"),
    }
    return {key: value for key, value in envelope.items() if value is not None}
