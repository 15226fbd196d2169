"""The activity handler: the Teams edge around the conversation.

Each turn is one transaction: claim the activity id (Teams redelivers what it thinks failed),
remember who is talking and where to reach them, run the conversation and save its state; replies
go out only after the commit. Turns of one conversation are serialised here, and a concurrent turn
on another instance is detected by the state's e-tag and rolled back whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from botbuilder.core import ActivityHandler, ConversationState, MessageFactory, TurnContext
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    InvokeResponse,
)
from msrest.serialization import Model
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.edge import tenant_of
from bot.lead_files import FILE_CONSENT
from bot.leads import LEAD_VERB, LeadCommands
from bot.logs import set_turn_outcome
from bot.turns import KeyedLocks
from dialogs import outgoing
from dialogs.payloads import invoke_action_data
from dialogs.router import PartnerConversation
from dialogs.survey_dialog import INVOKE_CARD, INVOKE_MESSAGE
from frameworks.loader import Catalogue
from storage.activities import activity_key, claim_activity
from storage.bot_state import EtagConflict
from storage.conversations import reference_for, save_reference
from storage.db import lost_race, transaction, turn_transaction
from storage.lru import BoundedCache
from storage.people import upsert_person

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

RACED = "I received two replies at the same moment and kept the first one. Here is where we are:"


class SurveyBot(ActivityHandler):
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        catalogue: Catalogue,
        clock: Clock,
        conversation_state: ConversationState,
        partner: PartnerConversation,
        locks: KeyedLocks,
        leads: LeadCommands | None = None,
    ) -> None:
        self._sessions = sessions
        self._catalogue = catalogue
        self._clock = clock
        self._state = conversation_state
        self._partner = partner
        self._locks = locks
        self._leads = leads
        self._seen: BoundedCache[tuple[object, ...], tuple[object, ...]] = BoundedCache(10_000)
        """Who was last recorded in which conversation, so a chat's every turn doesn't rewrite it."""

    async def on_turn(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        key = _claim_key(activity)
        if self._leads is not None and _is_file_consent(activity):
            await self._file_consent_turn(turn_context, key)
            return
        if self._leads is not None and _is_lead_turn(activity):
            await self._lead_turn(turn_context, key)
            return
        async with self._locks.hold(activity.conversation.id if activity.conversation else ""):
            outgoing.hold(turn_context)
            try:
                async with turn_transaction(self._sessions) as session:
                    fresh = await self._claim(session, turn_context, key)
                    if fresh:
                        await self._state.load(turn_context)
                        await super().on_turn(turn_context)
                        await self._state.save_changes(turn_context)
            except Exception as error:
                outgoing.discard(turn_context)
                if not (isinstance(error, EtagConflict) or lost_race(error)):
                    raise  # nothing was committed: Teams' retry will be processed
                # Another instance finished a turn of this conversation first (its state's e-tag moved
                # on, or PostgreSQL chose this turn as a deadlock's victim); this one was rolled back
                # whole (answer, state and claim), so show the person the state that won.
                log.info("concurrent turn in conversation; kept the first")
                await self._after_conflict(turn_context, key)
                return
            except BaseException:
                outgoing.discard(turn_context)  # nothing was committed: Teams' retry will be processed
                raise
            if not fresh:
                outgoing.discard(turn_context)
                await _redelivered(turn_context)
                return
            await outgoing.flush(turn_context)
            # Sending may have taught the conversation something (a card's id): keep it, if so.
            async with turn_transaction(self._sessions):
                try:
                    await self._state.save_changes(turn_context)
                except EtagConflict:
                    log.info("conversation moved on before a sent card's id was saved")

    async def _lead_turn(self, turn_context: TurnContext, key: str | None) -> None:
        """A command in a channel or group chat, or a lead's card button: claimed and committed first,
        then run in its own short transactions (a roster fetch must not hold the database)."""
        assert self._leads is not None
        if not await self._claimed_first(turn_context, key):
            return
        activity = turn_context.activity
        if activity.type == ActivityTypes.invoke:
            message = await self._leads.on_card(turn_context, invoke_action_data(activity.value))
            await _send_invoke_message(turn_context, message)
        elif _lead_card_data(activity) is not None:
            message = await self._leads.on_card(turn_context, activity.value)
            await turn_context.send_activity(MessageFactory.text(message))
        else:
            await self._leads.on_message(turn_context)

    async def _file_consent_turn(self, turn_context: TurnContext, key: str | None) -> None:
        """A lead allowed or declined an export file. Claimed and committed first, so a redelivered
        acceptance uploads nothing twice; then handled outside any transaction (the upload is one or
        more HTTP round trips), and answered 200 whatever happened: the lead is told in words."""
        assert self._leads is not None
        if not await self._claimed_first(turn_context, key):
            return
        await self._leads.on_file_consent(turn_context)
        await turn_context.send_activity(
            Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=200))
        )

    async def _claimed_first(self, turn_context: TurnContext, key: str | None) -> bool:
        """Claim the activity in a transaction of its own; False (and the redelivery reply) when Teams
        has delivered it before. For turns whose work must not sit inside one transaction."""
        async with turn_transaction(self._sessions) as session:
            fresh = await self._claim(session, turn_context, key)
        if not fresh:
            await _redelivered(turn_context)
        return fresh

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        if _is_personal(turn_context.activity):
            await self._partner.on_turn(turn_context)
        else:
            await outgoing.send(turn_context, MessageFactory.text(self._channel_help()))

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse | None:
        if turn_context.activity.name != "adaptiveCard/action":
            return await super().on_invoke_activity(turn_context)
        value = turn_context.activity.value
        action = value.get("action") if isinstance(value, dict) else None
        if not isinstance(action, dict) or action.get("type") != "Action.Execute":
            return _invoke_error(400, "BadRequest", "Expected an Action.Execute with data.")
        await self._partner.on_turn(turn_context)
        card = turn_context.turn_state.get(INVOKE_CARD)
        if card is not None:
            return _invoke_reply(CARD_RESPONSE, card)
        return _invoke_reply(MESSAGE_RESPONSE, turn_context.turn_state.get(INVOKE_MESSAGE, "Done."))

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        if any(member.id == bot_id for member in members_added):
            await self._installed(turn_context)

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await self._installed(turn_context)

    async def _installed(self, turn_context: TurnContext) -> None:
        """Teams announces an installation twice (installationUpdate and conversationUpdate): keep
        where to speak later, and greet only the first time the bot is there."""
        activity = turn_context.activity
        async with transaction(self._sessions) as session:
            known = activity.conversation is not None and (
                await reference_for(session, activity.conversation.id) is not None
            )
            await self._save_reference(session, turn_context, person_id=None)
        if not known:
            await outgoing.send(turn_context, MessageFactory.text(self._greeting()))

    async def _after_conflict(self, turn_context: TurnContext, key: str | None) -> None:
        outgoing.hold(turn_context)
        async with turn_transaction(self._sessions) as session:
            if key is not None:  # this delivery is settled: a retry of it must not be applied later
                await claim_activity(session, key, now=self._clock())
            await self._state.load(turn_context, force=True)
            await outgoing.send(turn_context, MessageFactory.text(RACED))
            await self._partner.reprompt(turn_context)
        await outgoing.flush(turn_context)

    async def _claim(self, session: AsyncSession, turn_context: TurnContext, key: str | None) -> bool:
        """Claim the activity id (False: a Teams redelivery) and remember who sent it."""
        if key is None:
            return True
        if not await claim_activity(session, key, now=self._clock()):
            return False
        await self._remember(session, turn_context)
        return True

    async def _remember(self, session: AsyncSession, turn_context: TurnContext) -> None:
        """Record who is talking and where to reach them, unless this instance already wrote exactly that."""
        activity = turn_context.activity
        sender = activity.from_property
        if sender is None or not sender.id:
            return
        details = (sender.id, sender.aad_object_id, sender.name, tenant_of(activity))
        conversation = activity.conversation.id if activity.conversation else None
        seen = self._seen.get(details)
        if seen is not None and seen[0] == (conversation, activity.service_url):
            return
        person = await upsert_person(
            session,
            teams_user_id=sender.id,
            aad_object_id=sender.aad_object_id,
            name=sender.name,
            tenant_id=tenant_of(activity),
            now=self._clock(),
        )
        await self._save_reference(
            session, turn_context, person_id=person.id if _is_personal(activity) else None
        )
        self._seen.put(details, ((conversation, activity.service_url),))

    async def _save_reference(
        self, session: AsyncSession, turn_context: TurnContext, person_id: int | None
    ) -> None:
        activity = turn_context.activity
        if activity.conversation is None or not activity.service_url:
            return
        reference = TurnContext.get_conversation_reference(activity)
        await save_reference(
            session,
            conversation_id=activity.conversation.id,
            service_url=activity.service_url,
            reference=reference.serialize(),
            conversation_type=activity.conversation.conversation_type or "personal",
            tenant_id=tenant_of(activity),
            team_id=_team(activity),
            bot_id=activity.recipient.id if activity.recipient else None,
            person_id=person_id,
            now=self._clock(),
        )

    def _greeting(self) -> str:
        return (
            "Hello! I run partnership self-assessments in Teams: maturity matrices, -5 to +5 "
            "self-assessments and delivery check-ins. Partners answer in a 1:1 chat with me, one "
            "question at a time. " + self._frameworks_line() + " Say help (mention me in a channel) "
            "to see what I can do."
        )

    def _channel_help(self) -> str:
        return (
            "Partners answer surveys in a 1:1 chat with me: open a chat with me and say “my surveys”. "
            + self._frameworks_line()
        )

    def _frameworks_line(self) -> str:
        titles = sorted(framework.title for framework in self._catalogue.frameworks.values())
        return "Frameworks available: " + "; ".join(titles) + "." if titles else "No frameworks are loaded."


async def _redelivered(turn_context: TurnContext) -> None:
    set_turn_outcome("duplicate")
    log.info("redelivered activity %s ignored", turn_context.activity.id)
    if turn_context.activity.type == ActivityTypes.invoke:
        await _send_invoke_message(turn_context, "Already received.")


def _is_lead_turn(activity: Activity) -> bool:
    """Channel and group-chat messages are commands; a lead's card button can be clicked anywhere."""
    if activity.type == ActivityTypes.invoke and activity.name == "adaptiveCard/action":
        value = activity.value if isinstance(activity.value, dict) else {}
        action = value.get("action")
        return isinstance(action, dict) and action.get("verb") == LEAD_VERB
    if activity.type != ActivityTypes.message:
        return False
    if _lead_card_data(activity) is not None:
        return True
    return not _is_personal(activity) and activity.value is None


def _is_file_consent(activity: Activity) -> bool:
    return activity.type == ActivityTypes.invoke and activity.name == FILE_CONSENT


def _lead_card_data(activity: Activity) -> object | None:
    """The Action.Submit fallback of a lead's card: a message whose value carries `lead`."""
    value = activity.value
    return value if isinstance(value, dict) and "lead" in value and "action" not in value else None


def _claim_key(activity: Activity) -> str | None:
    if activity.type not in (ActivityTypes.message, ActivityTypes.invoke) or not activity.id:
        return None
    conversation = activity.conversation.id if activity.conversation else ""
    return activity_key(activity.channel_id or "", conversation, activity.id)


CARD_RESPONSE = "application/vnd.microsoft.card.adaptive"
MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"


class UniversalActionResponse(Model):
    """The `adaptiveCard/action` response body. The SDK's AdaptiveCardInvokeResponse types `value` as a
    dict, so it cannot carry the plain string a message response needs; `object` serialises both."""

    _attribute_map = {  # noqa: RUF012 (msrest's declaration style)
        "status_code": {"key": "statusCode", "type": "int"},
        "type": {"key": "type", "type": "str"},
        "value": {"key": "value", "type": "object"},
    }

    def __init__(self, *, status_code: int, type: str, value: object) -> None:
        super().__init__()
        self.status_code = status_code
        self.type = type
        self.value = value


def _invoke_reply(kind: str, value: object) -> InvokeResponse:
    return InvokeResponse(status=200, body=UniversalActionResponse(status_code=200, type=kind, value=value))


def _invoke_error(status: int, code: str, message: str) -> InvokeResponse:
    body = UniversalActionResponse(
        status_code=status, type="application/vnd.microsoft.error", value={"code": code, "message": message}
    )
    return InvokeResponse(status=status, body=body)


async def _send_invoke_message(turn_context: TurnContext, message: str) -> None:
    response = _invoke_reply(MESSAGE_RESPONSE, message)
    await turn_context.send_activity(Activity(type=ActivityTypes.invoke_response, value=response))


def _is_personal(activity: Activity) -> bool:
    return activity.conversation is None or activity.conversation.conversation_type in (None, "personal")


def _team(activity: Activity) -> str | None:
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    team = channel_data.get("team")
    return team.get("id") if isinstance(team, dict) else None
