"""The activity handler: the Teams edge around the conversation.

Each turn is a pipeline: load once, decide, render, commit, send. One transaction claims the activity
id (Teams redelivers what it thinks failed), remembers who is talking and where to reach them, runs the
conversation, saves its state and keeps the turn's replies (and an invoke's answer) with the claim.
Only after the commit is the invoke answered and are replies sent; then they are marked sent. So an
answer is never acknowledged unless stored, and a redelivery of a turn whose replies never went out
(the process died after the commit) sends them: data exactly once, replies at least once. Turns of one
conversation are serialised here, and a concurrent turn on another instance is detected by the
state's e-tag and rolled back whole.

A lead's command cannot sit in one transaction (a roster fetch, an upload): its claim holds a short
lease, renewed while it works, and is completed with its replies once the work is done. Teams'
redelivery of a command whose instance died mid-way (the lease ran out) runs it again, which is safe:
commands are idempotent and `start` reuses the draft it made. A redelivery while the lease holds is
asked to come back (503). If the Bot Connector fails a reply after the commit, the HTTP answer is a
502, so Teams delivers the activity again and the kept replies go out then.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from botbuilder.core import ActivityHandler, ConversationState, MessageFactory, TurnContext
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, InvokeResponse

from bot.cards import card_message
from bot.leads.chat import LeadCommands
from bot.leads.lead_files import FILE_CONSENT
from bot.leads.tenant_frameworks import framework_choices
from bot.ops.logs import set_turn_outcome
from bot.teams.delivery import KeptReplies, deliver, redelivered, still_owed
from bot.teams.edge import tenant_of
from bot.teams.invokes import (
    CARD_RESPONSE,
    MESSAGE_RESPONSE,
    NOT_SAVED,
    answer_invoke,
    invoke_error,
    invoke_json,
    invoke_reply,
    not_supported,
)
from bot.teams.lead_turns import TeamsLeadConversation, has_file
from bot.teams.leased import CLAIM_LEASE, LeasedTurns
from bot.teams.references import References, is_personal
from bot.teams.turns import KeyedLocks
from bot.teams.unfinished import DatabaseConnectionLost, RepliesNotSent, StillInProgress, TurnUnfinished
from dialogs import outgoing
from dialogs.payloads import invoke_press, submit_press
from dialogs.router import PartnerConversation
from dialogs.survey_dialog import INVOKE_CARD, INVOKE_MESSAGE
from frameworks.clock import Clock
from frameworks.loader import Catalogue
from storage.activities import activity_key, claim_activity
from storage.bot_state import EtagConflict
from storage.conversations import reference_for
from storage.db import Session, Sessions, lost_connection, lost_race, transaction, turn_transaction

__all__ = [
    "CLAIM_LEASE",
    "RACED",
    "DatabaseConnectionLost",
    "RepliesNotSent",
    "StillInProgress",
    "SurveyBot",
    "TurnUnfinished",
]

log = logging.getLogger(__name__)

RACED = "I received two replies at the same moment and kept the first one. Here is where we are:"


class SurveyBot(ActivityHandler):
    def __init__(
        self,
        *,
        sessions: Sessions,
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
        self._references = References(clock)
        self._leased = LeasedTurns(sessions=sessions, clock=clock, references=self._references)

    async def on_turn(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        refusal = self._refusal(activity)
        if refusal is not None:
            set_turn_outcome("rejected")  # the caller's mistake, even where the HTTP status is 200
            await answer_invoke(turn_context, refusal)
            return
        key = _claim_key(activity)
        if self._leads is not None and _is_file_consent(activity):
            await self._file_consent_turn(turn_context, key)
            return
        if self._leads is not None and _is_lead_turn(activity):
            await self._lead_turn(turn_context, key)
            return
        async with self._locks.hold(activity.conversation.id if activity.conversation else ""):
            await self._partner_turn(turn_context, key)

    async def _partner_turn(self, turn_context: TurnContext, key: str | None) -> None:
        try:
            kept = await self._decided(turn_context, key)
        except Exception as error:
            # Nothing was committed: Teams' retry, or pressing the button again, is processed.
            invoke = turn_context.activity.type == ActivityTypes.invoke
            if invoke:
                await answer_invoke(turn_context, NOT_SAVED)
            if not lost_connection(error):
                raise
            _log_lost_connection(turn_context.activity)
            if not invoke:
                raise DatabaseConnectionLost("the database connection was lost mid-turn") from error
            return  # answered "not saved": the card stays pressable
        if kept is None:
            await redelivered(turn_context)
            return
        await deliver(turn_context, key, kept, sessions=self._sessions)

    async def _decided(self, turn_context: TurnContext, key: str | None) -> KeptReplies | None:
        try:
            return await self._committed(turn_context, key, self._decide)
        except Exception as error:
            if not (isinstance(error, EtagConflict) or lost_race(error)):
                raise
        # Another instance finished a turn of this conversation first (its state's e-tag moved on, or
        # PostgreSQL chose this turn as a deadlock's victim); this one was rolled back whole (answer,
        # state and claim), so show the person the state that won.
        log.info("concurrent turn in conversation; kept the first")
        return await self._committed(turn_context, key, self._after_conflict)

    async def _committed(
        self,
        turn_context: TurnContext,
        key: str | None,
        decide: Callable[[TurnContext], Awaitable[InvokeResponse | None]],
    ) -> KeptReplies | None:
        """Decide, then claim the activity id with the replies and save the state, in one transaction;
        nothing is sent. For a redelivery: the replies its first delivery kept and never confirmed sent,
        or None. The claim comes after the decision so that it carries the replies (one statement), and
        before the state's write, so that a redelivery racing its first delivery on another instance
        waits for that claim and is recognised, not taken for a concurrent turn."""
        outgoing.hold(turn_context)
        outgoing.set_receipt_key(turn_context, key)
        try:
            async with turn_transaction(self._sessions) as session:
                response = await decide(turn_context)
                kept = KeptReplies(replies=outgoing.held(turn_context), invoke=invoke_json(response))
                if not await self._claim(session, turn_context, key, kept):
                    raise _Redelivered
                await self._state.save_changes(turn_context)
                return kept
        except _Redelivered:
            outgoing.discard(turn_context)
        except BaseException:
            outgoing.discard(turn_context)  # rolled back: nothing of it may reach the person
            raise
        assert key is not None
        async with transaction(self._sessions) as session:
            return await still_owed(session, turn_context, key)

    async def _decide(self, turn_context: TurnContext) -> InvokeResponse | None:
        """Run the conversation on the turn's state; an invoke's answer is returned, not sent, because it
        may only be sent once the turn is committed."""
        await self._state.load(turn_context)
        if turn_context.activity.type == ActivityTypes.invoke:
            return await self.on_invoke_activity(turn_context)
        await super().on_turn(turn_context)
        return None

    async def _lead_turn(self, turn_context: TurnContext, key: str | None) -> None:
        """A command in a channel or group chat, or a lead's card button: run in its own short
        transactions under a leased claim (a roster fetch must not hold the database)."""
        leads = self._leads
        assert leads is not None

        async def command(context: TurnContext) -> InvokeResponse | None:
            activity = context.activity
            chat = TeamsLeadConversation(context)
            if activity.type == ActivityTypes.invoke:
                press = invoke_press(activity.value)
                message = await leads.on_card(chat, None if press is None else press.data)
                return invoke_reply(MESSAGE_RESPONSE if isinstance(message, str) else CARD_RESPONSE, message)
            submitted = submit_press(activity.value)
            if submitted is not None:
                message = await leads.on_card(chat, submitted.data)
                reply = MessageFactory.text(message) if isinstance(message, str) else card_message(message)
                await outgoing.send(context, reply)
            else:
                await leads.on_message(chat)
            return None

        await self._leased.run(turn_context, key, command)

    async def _file_consent_turn(self, turn_context: TurnContext, key: str | None) -> None:
        """A lead allowed or declined an export file. Handled under a leased claim, outside any
        transaction (the upload is one or more HTTP round trips), so a redelivered acceptance uploads
        nothing twice once done; answered 200 whatever happened: the lead is told in words."""
        leads = self._leads
        assert leads is not None

        async def consent(context: TurnContext) -> None:
            await leads.on_file_consent(TeamsLeadConversation(context))

        await self._leased.run(turn_context, key, consent)
        await answer_invoke(turn_context, InvokeResponse(status=200))

    def _refusal(self, activity: Activity) -> InvokeResponse | None:
        """The answer to an invoke the bot cannot take, given before anything is claimed or stored."""
        if activity.type != ActivityTypes.invoke:
            return None
        if activity.name == "adaptiveCard/action":
            press = invoke_press(activity.value)
            if press is not None and press.is_execute:
                return None
            log.info("adaptiveCard/action without an Action.Execute refused")
            return invoke_error(400, "BadRequest", "Expected an Action.Execute with data.")
        if self._leads is not None and activity.name == FILE_CONSENT:
            return None
        log.info("invoke %r not handled", activity.name)  # the log clips client strings
        return not_supported(activity.name)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        if is_personal(turn_context.activity):
            await self._partner.on_turn(turn_context)
        else:
            async with transaction(self._sessions) as session:
                titles = await self._framework_titles(session, turn_context.activity)
            await outgoing.send(turn_context, MessageFactory.text(_channel_help(titles)))

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse | None:
        refusal = self._refusal(turn_context.activity)
        if refusal is not None:
            return refusal
        await self._partner.on_turn(turn_context)
        card = turn_context.turn_state.get(INVOKE_CARD)
        if card is not None:
            return invoke_reply(CARD_RESPONSE, card)
        return invoke_reply(MESSAGE_RESPONSE, turn_context.turn_state.get(INVOKE_MESSAGE, "Done."))

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
            await self._references.save_reference(session, turn_context, person_id=None)
            titles = [] if known else await self._framework_titles(session, activity)
        if not known:
            await outgoing.send(turn_context, MessageFactory.text(_greeting(titles)))

    async def _after_conflict(self, turn_context: TurnContext) -> InvokeResponse | None:
        """Decide the replies of a turn that lost a race: the delivery is claimed all the same (a retry
        of it must not be applied later), and the person is shown the state that won."""
        await self._state.load(turn_context, force=True)
        invoke = turn_context.activity.type == ActivityTypes.invoke
        if not invoke:
            await outgoing.send(turn_context, MessageFactory.text(RACED))
        await self._partner.reprompt(turn_context)
        return invoke_reply(MESSAGE_RESPONSE, RACED) if invoke else None

    async def _claim(
        self, session: Session, turn_context: TurnContext, key: str | None, kept: KeptReplies
    ) -> bool:
        """Claim the activity id with what the turn owes Teams (False: a Teams redelivery) and remember
        who sent it."""
        if key is None:
            return True
        if not await claim_activity(session, key, now=self._clock(), replies=kept.to_keep()):
            return False
        await self._references.remember(session, turn_context)
        return True

    async def _framework_titles(self, session: Session, activity: Activity) -> list[str]:
        """The frameworks a survey here can use: the built-in ones and those this tenant published."""
        choices = await framework_choices(session, built_in=self._catalogue, tenant_id=tenant_of(activity))
        return [choice.title for choice in choices]


def _greeting(titles: list[str]) -> str:
    return (
        "Hello! I run partnership self-assessments in Teams: maturity matrices, -5 to +5 "
        "self-assessments and delivery check-ins. Partners answer in a 1:1 chat with me, one "
        "question at a time. " + _frameworks_line(titles) + " Say help (mention me in a channel) "
        "to see what I can do."
    )


def _channel_help(titles: list[str]) -> str:
    return (
        "Partners answer surveys in a 1:1 chat with me: open a chat with me and say “my surveys”. "
        + _frameworks_line(titles)
    )


def _frameworks_line(titles: list[str]) -> str:
    return "Frameworks available: " + "; ".join(titles) + "." if titles else "No frameworks are loaded."


class _Redelivered(Exception):
    """The activity was claimed already (Teams delivered it again): roll back what this delivery did."""


def _log_lost_connection(activity: Activity) -> None:
    """One ERROR line, no traceback: the database dropped, the turn's own code did nothing wrong."""
    set_turn_outcome("failed")
    log.error(
        "lost the database connection during activity %s (%s): not acknowledged, so Teams delivers it again",
        activity.id,
        activity.type,
    )


def _is_lead_turn(activity: Activity) -> bool:
    """Channel and group-chat messages are commands; a lead's card button can be clicked anywhere."""
    if activity.type == ActivityTypes.invoke and activity.name == "adaptiveCard/action":
        press = invoke_press(activity.value)
        return press is not None and press.by_lead
    if activity.type != ActivityTypes.message:
        return False
    if submit_press(activity.value) is not None:
        return True
    if is_personal(activity) and has_file(activity):
        return True  # a lead's workbook (bot.leads.framework_uploads); a partner's file is refused there
    return not is_personal(activity) and activity.value is None


def _is_file_consent(activity: Activity) -> bool:
    return bool(activity.type == ActivityTypes.invoke and activity.name == FILE_CONSENT)


def _claim_key(activity: Activity) -> str | None:
    if activity.type not in (ActivityTypes.message, ActivityTypes.invoke) or not activity.id:
        return None
    conversation = activity.conversation.id if activity.conversation else ""
    return activity_key(activity.channel_id or "", conversation, activity.id)
