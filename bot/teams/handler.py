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

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from botbuilder.core import ActivityHandler, ConversationState, MessageFactory, TurnContext
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    Error,
    ErrorResponse,
    InvokeResponse,
)
from msrest.serialization import Model
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cards import card_activity
from bot.leads.chat import CLAIMED_ACTIVITY, LeadCommands
from bot.leads.lead_files import FILE_CONSENT
from bot.ops.logs import clip, set_turn_outcome
from bot.teams.edge import tenant_of
from bot.teams.lead_turns import TeamsLeadConversation, has_file
from bot.teams.turns import KeyedLocks
from dialogs import outgoing
from dialogs.payloads import invoke_press, submit_press
from dialogs.router import PartnerConversation
from dialogs.survey_dialog import INVOKE_CARD, INVOKE_MESSAGE
from frameworks.loader import Catalogue
from storage.activities import (
    Claim,
    activity_key,
    claim_activity,
    claim_leased,
    complete_claim,
    lease_left,
    owe_replies,
    owed_replies,
    renew_lease,
    replies_sent,
)
from storage.bot_state import EtagConflict
from storage.conversations import reference_for, save_reference
from storage.db import lost_connection, lost_race, transaction, turn_transaction
from storage.lru import BoundedCache
from storage.people import upsert_person

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

RACED = "I received two replies at the same moment and kept the first one. Here is where we are:"

CLAIM_LEASE = timedelta(seconds=30)
"""How long a command's claim is held unrenewed. Renewed every third of it while the command works, so
a redelivery after an instance died waits at most this long to run the command again."""

Work = Callable[[TurnContext], Awaitable[InvokeResponse | None]]


class TurnUnfinished(Exception):
    """The turn could not finish here and Teams should deliver the activity again: the adapter answers
    the HTTP request with `status` (a 5xx) instead of a reply."""

    status = 503
    retry_after: int | None = None


class RepliesNotSent(TurnUnfinished):
    """The turn committed, but the Bot Connector failed its replies; they stay kept with the claim."""

    status = 502


class DatabaseConnectionLost(TurnUnfinished):
    """The database connection dropped before the turn committed: Teams' redelivery finds a live one
    (the pool does not hand out the lost connection again), where "Sorry, try again" would make the
    person retype what the bot never stored."""

    status = 503


class StillInProgress(TurnUnfinished):
    """A redelivery of a command another delivery is still working on (its lease has not run out)."""

    def __init__(self, retry_after: timedelta) -> None:
        super().__init__("the command is still in progress")
        self.retry_after = max(1, round(retry_after.total_seconds()))


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
        refusal = self._refusal(activity)
        if refusal is not None:
            set_turn_outcome("rejected")  # the caller's mistake, even where the HTTP status is 200
            await _answer_invoke(turn_context, refusal)
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
                await _answer_invoke(turn_context, NOT_SAVED)
            if not lost_connection(error):
                raise
            _log_lost_connection(turn_context.activity)
            if not invoke:
                raise DatabaseConnectionLost("the database connection was lost mid-turn") from error
            return  # answered "not saved": the card stays pressable
        if kept is None:
            await _redelivered(turn_context)
            return
        await self._deliver(turn_context, key, kept)

    async def _decided(self, turn_context: TurnContext, key: str | None) -> _KeptReplies | None:
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
    ) -> _KeptReplies | None:
        """Claim, decide and keep the replies with the claim, in one transaction; nothing is sent. For a
        redelivery: the replies its first delivery kept and never confirmed sent, or None."""
        outgoing.hold(turn_context)
        try:
            async with turn_transaction(self._sessions) as session:
                if not await self._claim(session, turn_context, key):
                    assert key is not None
                    return await _still_owed(session, turn_context, key)
                response = await decide(turn_context)
                kept = _KeptReplies(replies=outgoing.held(turn_context), invoke=_invoke_json(response))
                if key is not None and kept.owes_anything():
                    await owe_replies(session, key, kept.model_dump_json())
                return kept
        except BaseException:
            outgoing.discard(turn_context)  # rolled back: nothing of it may reach the person
            raise

    async def _decide(self, turn_context: TurnContext) -> InvokeResponse | None:
        """Run the conversation on the turn's state and save it; an invoke's answer is returned, not
        sent, because it may only be sent once the turn is committed."""
        await self._state.load(turn_context)
        if turn_context.activity.type == ActivityTypes.invoke:
            response = await self.on_invoke_activity(turn_context)
        else:
            await super().on_turn(turn_context)
            response = None
        await self._state.save_changes(turn_context)
        return response

    async def _deliver(self, turn_context: TurnContext, key: str | None, kept: _KeptReplies) -> None:
        """After the commit: answer the invoke, send the replies, then mark them sent (and keep a sent
        card's id, if sending taught the conversation one)."""
        if kept.invoke is not None:
            body = UniversalActionResponse.deserialize(kept.invoke)
            await _answer_invoke(turn_context, InvokeResponse(status=200, body=body))
        try:
            await outgoing.flush(turn_context)
        except Exception as error:
            if key is None or not kept.owes_anything():
                raise
            raise RepliesNotSent(_failure(error)) from error
        async with turn_transaction(self._sessions) as session:
            if key is not None and kept.owes_anything():
                await replies_sent(session, key)
            try:
                await self._state.save_changes(turn_context)
            except EtagConflict:
                log.info("conversation moved on before a sent card's id was saved")

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
                return _invoke_reply(MESSAGE_RESPONSE if isinstance(message, str) else CARD_RESPONSE, message)
            submitted = submit_press(activity.value)
            if submitted is not None:
                message = await leads.on_card(chat, submitted.data)
                reply = MessageFactory.text(message) if isinstance(message, str) else card_activity(message)
                await outgoing.send(context, reply)
            else:
                await leads.on_message(chat)
            return None

        await self._leased_turn(turn_context, key, command)

    async def _file_consent_turn(self, turn_context: TurnContext, key: str | None) -> None:
        """A lead allowed or declined an export file. Handled under a leased claim, outside any
        transaction (the upload is one or more HTTP round trips), so a redelivered acceptance uploads
        nothing twice once done; answered 200 whatever happened: the lead is told in words."""
        leads = self._leads
        assert leads is not None

        async def consent(context: TurnContext) -> None:
            await leads.on_file_consent(TeamsLeadConversation(context))

        await self._leased_turn(turn_context, key, consent)
        await _answer_invoke(turn_context, InvokeResponse(status=200))

    async def _leased_turn(self, turn_context: TurnContext, key: str | None, work: Work) -> None:
        """Claim with a lease, do the work with its replies held, then complete the claim keeping the
        replies, and send them after that commit. A redelivery of a completed claim sends what was not
        confirmed sent; of one whose lease ran out, runs the work again; of one still leased, gets 503."""
        kept: _KeptReplies | None = None
        if key is not None:
            now = self._clock()
            left: timedelta | None = None
            async with turn_transaction(self._sessions) as session:
                claim = await claim_leased(session, key, now=now, lease=CLAIM_LEASE)
                if claim is Claim.RUN:
                    await self._remember(session, turn_context)
                elif claim is Claim.OWED:
                    kept = await _still_owed(session, turn_context, key)
                elif claim is Claim.HELD:
                    left = await lease_left(session, key, now=now)
            if claim is Claim.HELD:
                set_turn_outcome("duplicate")
                log.info("redelivered activity %s: its command is in progress", turn_context.activity.id)
                raise StillInProgress(left or CLAIM_LEASE)
            if claim is Claim.DONE or (claim is Claim.OWED and kept is None):
                await _redelivered(turn_context)
                return
            turn_context.turn_state[CLAIMED_ACTIVITY] = key
        if kept is None:
            kept = await self._worked(turn_context, key, work)
        await self._deliver(turn_context, key, kept)

    async def _worked(self, turn_context: TurnContext, key: str | None, work: Work) -> _KeptReplies:
        """Do a leased turn's work, keeping its lease renewed, and complete its claim with its replies."""
        outgoing.hold(turn_context)
        try:
            async with self._lease_renewed(key):
                response = await work(turn_context)
            kept = _KeptReplies(replies=outgoing.held(turn_context), invoke=_invoke_json(response))
            if key is not None:
                replies = kept.model_dump_json() if kept.owes_anything() else None
                async with turn_transaction(self._sessions) as session:
                    await complete_claim(session, key, replies)
        except BaseException:
            outgoing.discard(turn_context)  # not completed: a redelivery after the lease does it again
            raise
        return kept

    @asynccontextmanager
    async def _lease_renewed(self, key: str | None) -> AsyncIterator[None]:
        """Renew the claim's lease every third of it while the body runs, so only the claim of an
        instance that died runs out."""

        async def renew(claim: str) -> None:
            while True:
                await asyncio.sleep(CLAIM_LEASE.total_seconds() / 3)
                try:
                    async with transaction(self._sessions) as session:
                        await renew_lease(session, claim, until=self._clock() + CLAIM_LEASE)
                except Exception as error:  # the next renewal tries again; the lease is three times longer
                    log.warning("could not renew a command's lease: %s", type(error).__name__)

        if key is None:
            yield
            return
        renewing = asyncio.create_task(renew(key), name="claim-lease")
        try:
            yield
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)

    def _refusal(self, activity: Activity) -> InvokeResponse | None:
        """The answer to an invoke the bot cannot take, given before anything is claimed or stored."""
        if activity.type != ActivityTypes.invoke:
            return None
        if activity.name == "adaptiveCard/action":
            press = invoke_press(activity.value)
            if press is not None and press.is_execute:
                return None
            log.info("adaptiveCard/action without an Action.Execute refused")
            return _invoke_error(400, "BadRequest", "Expected an Action.Execute with data.")
        if self._leads is not None and activity.name == FILE_CONSENT:
            return None
        log.info("invoke %r not handled", activity.name)  # the log clips client strings
        return _not_supported(activity.name)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        if _is_personal(turn_context.activity):
            await self._partner.on_turn(turn_context)
        else:
            await outgoing.send(turn_context, MessageFactory.text(self._channel_help()))

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse | None:
        refusal = self._refusal(turn_context.activity)
        if refusal is not None:
            return refusal
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

    async def _after_conflict(self, turn_context: TurnContext) -> InvokeResponse | None:
        """Decide the replies of a turn that lost a race: the delivery is claimed all the same (a retry
        of it must not be applied later), and the person is shown the state that won."""
        await self._state.load(turn_context, force=True)
        invoke = turn_context.activity.type == ActivityTypes.invoke
        if not invoke:
            await outgoing.send(turn_context, MessageFactory.text(RACED))
        await self._partner.reprompt(turn_context)
        return _invoke_reply(MESSAGE_RESPONSE, RACED) if invoke else None

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


def _log_lost_connection(activity: Activity) -> None:
    """One ERROR line, no traceback: the database dropped, the turn's own code did nothing wrong."""
    set_turn_outcome("failed")
    log.error(
        "lost the database connection during activity %s (%s): not acknowledged, so Teams delivers it again",
        activity.id,
        activity.type,
    )


async def _redelivered(turn_context: TurnContext) -> None:
    set_turn_outcome("duplicate")
    log.info("redelivered activity %s ignored", turn_context.activity.id)
    if turn_context.activity.type == ActivityTypes.invoke:
        await _send_invoke_message(turn_context, "Already received.")


class _KeptReplies(BaseModel):
    """What a claimed turn owes Teams, kept with its claim until sent: its replies and, for an
    `adaptiveCard/action`, the answer's body (always sent with HTTP 200)."""

    replies: list[outgoing.HeldReply]
    invoke: dict[str, Any] | None = None

    def owes_anything(self) -> bool:
        return bool(self.replies) or self.invoke is not None


async def _still_owed(session: AsyncSession, turn_context: TurnContext, key: str) -> _KeptReplies | None:
    """A redelivery: queue again what its first delivery kept and never confirmed sent."""
    stored = await owed_replies(session, key)
    if stored is None:
        return None
    kept = _KeptReplies.model_validate_json(stored)
    outgoing.hold_again(turn_context, kept.replies)
    set_turn_outcome("duplicate")
    log.info(
        "redelivered activity %s: sending the replies its first delivery did not", turn_context.activity.id
    )
    return kept


def _invoke_json(response: InvokeResponse | None) -> dict[str, Any] | None:
    if response is None:
        return None
    if not isinstance(response.body, UniversalActionResponse) or response.status != 200:
        raise TypeError("a kept invoke answer is a Universal Actions body in an HTTP 200")
    return response.body.serialize()


def _failure(error: BaseException) -> str:
    """What failed a send, for one log line: the error's kind and the HTTP status, no details."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    return f"{type(error).__name__} {status}" if status is not None else type(error).__name__


def _is_lead_turn(activity: Activity) -> bool:
    """Channel and group-chat messages are commands; a lead's card button can be clicked anywhere."""
    if activity.type == ActivityTypes.invoke and activity.name == "adaptiveCard/action":
        press = invoke_press(activity.value)
        return press is not None and press.by_lead
    if activity.type != ActivityTypes.message:
        return False
    if submit_press(activity.value) is not None:
        return True
    if _is_personal(activity) and has_file(activity):
        return True  # a lead's workbook (bot.leads.framework_uploads); a partner's file is refused there
    return not _is_personal(activity) and activity.value is None


def _is_file_consent(activity: Activity) -> bool:
    return activity.type == ActivityTypes.invoke and activity.name == FILE_CONSENT


def _claim_key(activity: Activity) -> str | None:
    if activity.type not in (ActivityTypes.message, ActivityTypes.invoke) or not activity.id:
        return None
    conversation = activity.conversation.id if activity.conversation else ""
    return activity_key(activity.channel_id or "", conversation, activity.id)


CARD_RESPONSE = "application/vnd.microsoft.card.adaptive"
MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"


class UniversalActionResponse(Model):
    """The `adaptiveCard/action` response body. The SDK's AdaptiveCardInvokeResponse types `value` as a
    dict, so it cannot carry the plain string a message response needs; `object` serialises both.

    msrest writes an `object` as JSON only where it is exactly a `dict`, `list` or scalar: it `str()`s a
    dict subclass (a card the renderer shares as `SentCard`), and Teams would get Python text. So `value`
    is made plain JSON here, where every invoke body is built, whatever mapping the dialog produced.
    """

    _attribute_map = {  # noqa: RUF012 (msrest's declaration style)
        "status_code": {"key": "statusCode", "type": "int"},
        "type": {"key": "type", "type": "str"},
        "value": {"key": "value", "type": "object"},
    }

    def __init__(self, *, status_code: int, type: str, value: object) -> None:
        super().__init__()
        self.status_code = status_code
        self.type = type
        self.value = json.loads(json.dumps(value))


ERROR_RESPONSE = "application/vnd.microsoft.error"


def _invoke_reply(kind: str, value: object) -> InvokeResponse:
    return InvokeResponse(status=200, body=UniversalActionResponse(status_code=200, type=kind, value=value))


def _invoke_error(status_code: int, code: str, message: str) -> InvokeResponse:
    """A Universal Actions error: HTTP 200, the error in the body's `statusCode`, as the Adaptive Cards
    universal-action-model docs specify; Teams shows `message` on the card and leaves it pressable."""
    body = UniversalActionResponse(
        status_code=status_code, type=ERROR_RESPONSE, value={"code": code, "message": message}
    )
    return InvokeResponse(status=200, body=body)


NOT_SAVED = _invoke_error(
    500,
    "InternalServerError",
    "That was not saved: something went wrong on my side. Please press the button again.",
)
"""The answer to a press whose turn failed before its commit. A server fault, but answered inside an
HTTP 200 as Universal Actions want: Teams then shows this message on the card and keeps it pressable,
where an HTTP 5xx gets a generic failure. It is never a success, so a lost answer is never acknowledged."""


def _not_supported(name: str | None) -> InvokeResponse:
    """HTTP 400 for an invoke the bot does not handle (`task/fetch`, `composeExtension/*`, `signin/*`…).
    Teams sends these only for features a manifest declares, and ours declares none: such a request is
    the caller's mistake, so a 4xx with the Bot Framework's error body, not the SDK's 501 (a 5xx is
    counted as the bot's own failure)."""
    message = f"This bot does not handle {clip(name or '', 60)!r} invokes."
    return InvokeResponse(status=400, body=ErrorResponse(error=Error(code="NotSupported", message=message)))


async def _answer_invoke(turn_context: TurnContext, response: InvokeResponse) -> None:
    await turn_context.send_activity(Activity(type=ActivityTypes.invoke_response, value=response))


async def _send_invoke_message(turn_context: TurnContext, message: str) -> None:
    await _answer_invoke(turn_context, _invoke_reply(MESSAGE_RESPONSE, message))


def _is_personal(activity: Activity) -> bool:
    return activity.conversation is None or activity.conversation.conversation_type in (None, "personal")


def _team(activity: Activity) -> str | None:
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    team = channel_data.get("team")
    return team.get("id") if isinstance(team, dict) else None
