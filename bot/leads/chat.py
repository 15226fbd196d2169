"""Leads run surveys from Teams chat: start (confirmed on a card), status, remind, close, reopen,
lead roles and organisations. Partners get the listing commands and help; nobody gets silence.

This module is the way in: it reads the command (bot.commands), checks once whether the sender is a
lead (by AAD object id) and where they may use it, and hands it to its use case, looked up by the
command's model in `USE_CASES` (one per catalogue row). The use cases live beside it, one module per
group: starting, tracking, closing, roles, subscriptions, files.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.cards import Card, escape
from bot.commands import (
    COMMANDS,
    ActionAddCommand,
    ActionChangeCommand,
    ActionsCommand,
    Clarification,
    CloseCommand,
    CommandError,
    CommentsCommand,
    ConsensusCommand,
    DomainsCommand,
    ExportCommand,
    FrameworkExportCommand,
    FrameworksCommand,
    GrantLeadCommand,
    HelpCommand,
    MapDomainCommand,
    MyOrganisationCommand,
    ParsedCommand,
    PersonalViewsCommand,
    RemindCommand,
    ReopenCommand,
    ResultsCommand,
    RevokeLeadCommand,
    Scope,
    ShareResultsCommand,
    StartCommand,
    StatusCommand,
    SubscribeCommand,
    SubscriptionsCommand,
    SurveysCommand,
    UnknownCommand,
    UnmapDomainCommand,
    UnsubscribeCommand,
    help_text,
    parse_command,
    plain_text,
    refusal,
)
from bot.leads import actions, checkins, closing, consensus, files, roles, starting, subscriptions, tracking
from bot.leads.conversation import CLAIMED_ACTIVITY, Incoming, LeadConversation
from bot.leads.framework_uploads import FrameworkUploads, upload_card_data
from bot.leads.lead_files import LeadFiles
from bot.leads.tenant_frameworks import framework_choices
from bot.leads.turn import LeadServices, LeadTurn, reach_of
from dialogs.action_payloads import CHECKIN, parse_checkin, parse_make_action
from dialogs.payloads import LEAD_VERB, parse_lead_action
from storage.db import transaction
from storage.leads import is_lead

__all__ = ["CLAIMED_ACTIVITY", "LEAD_VERB", "USE_CASES", "LeadCommands", "LeadServices"]

log = logging.getLogger(__name__)


async def show_help(turn: LeadTurn, command: HelpCommand) -> None:
    await turn.say(help_text(turn.scope, turn.lead, command.topic))


async def ask_which(turn: LeadTurn, command: Clarification) -> None:
    """A date with two readings: each reading as the whole command to type again."""
    choices = "\n".join(f"- {escape(choice.text)}" for choice in command.choices)
    await turn.say(f"{command.question}\n\nType one of these:\n{choices}")


UseCase = Callable[[LeadTurn, Any], Awaitable[None]]

USE_CASES: dict[type[ParsedCommand], UseCase] = {
    HelpCommand: show_help,
    Clarification: ask_which,
    FrameworksCommand: tracking.frameworks,
    SurveysCommand: tracking.surveys,
    StatusCommand: tracking.status,
    ResultsCommand: tracking.results,
    StartCommand: starting.start,
    RemindCommand: closing.remind,
    CloseCommand: closing.close,
    ReopenCommand: closing.reopen,
    PersonalViewsCommand: closing.personal_views,
    ExportCommand: files.export,
    CommentsCommand: files.comments,
    ConsensusCommand: consensus.consensus,
    ShareResultsCommand: closing.share,
    FrameworkExportCommand: files.framework_export,
    SubscribeCommand: subscriptions.subscribe,
    UnsubscribeCommand: subscriptions.unsubscribe,
    SubscriptionsCommand: subscriptions.subscriptions,
    GrantLeadCommand: roles.lead_roles,
    RevokeLeadCommand: roles.lead_roles,
    MyOrganisationCommand: roles.my_organisation,
    MapDomainCommand: roles.domains,
    UnmapDomainCommand: roles.domains,
    DomainsCommand: roles.domains,
    ActionAddCommand: actions.add,
    ActionChangeCommand: actions.change,
    ActionsCommand: actions.listing,
}
"""The use case of each command (and of a clarification), by the command's model."""

_WITHOUT_USE_CASE = [spec.name for spec in COMMANDS if spec.model not in USE_CASES]
if _WITHOUT_USE_CASE:
    raise RuntimeError(f"commands in the catalogue without a use case: {', '.join(_WITHOUT_USE_CASE)}")


class LeadCommands:
    """The way in for typed commands, the leads' card buttons and file consent."""

    def __init__(self, services: LeadServices) -> None:
        self._s = services
        self._files = LeadFiles(
            sessions=services.sessions,
            clock=services.clock,
            rules=services.rules,
            is_lead=self._is_lead,
            notify_sender=services.notify_sender,
            uploads=services.uploads,
            catalogue=services.catalogue,
        )
        self._uploads = FrameworkUploads(
            sessions=services.sessions,
            clock=services.clock,
            is_lead=self._is_lead,
            downloads=services.downloads,
            verb=LEAD_VERB,
        )

    async def on_message(self, chat: LeadConversation) -> bool:
        """Handle a typed command. In 1:1 chats only recognised commands are taken (False otherwise);
        in channels and group chats anything else gets help."""
        incoming = chat.incoming
        if incoming.file_sent:  # a workbook sent in the 1:1 chat (bot.leads.framework_uploads)
            await self._uploads.on_file(chat)
            return True
        scope = Scope.of(incoming.conversation_kind)
        text = chat.typed_text()
        lead = await self._is_lead(incoming)
        turn = self._turn(chat, scope, lead)
        async with transaction(self._s.sessions) as session:
            choices = await framework_choices(
                session, built_in=self._s.catalogue, tenant_id=incoming.tenant_id
            )
        frameworks = [(choice.framework_id, choice.title) for choice in choices]
        try:
            command = parse_command(text, frameworks=frameworks, now=self._s.clock(), tz=self._s.tz)
        except CommandError as exc:
            refused = refusal(exc.kind, scope, lead)
            if refused is None and exc.kind == "start" and plain_text(text) == "start":
                await turn.send_card(starting.start_form(choices))  # `start` alone: the form
                return True
            await turn.say(refused or exc.message)
            return True
        if isinstance(command, UnknownCommand):
            if scope is Scope.PERSONAL:
                return False
            await turn.say("I didn't recognise that.\n\n" + help_text(scope, lead))
            return True
        if isinstance(command, SurveysCommand) and scope is Scope.PERSONAL and not lead:
            return False  # a partner's `surveys` is their own list (dialogs.router)
        kind = command.about if isinstance(command, Clarification) else command.kind
        refused = refusal(kind, scope, lead)
        if refused is not None:
            await turn.say(refused)
            return True
        await USE_CASES[type(command)](turn, command)
        return True

    async def on_card(self, chat: LeadConversation, data: object) -> str | Card:
        """A lead's card button; returns a short message for the invoke response, or a card that
        replaces the one pressed."""
        if upload_card_data(data) is not None:
            return await self._uploads.on_card(chat, data)
        scope = Scope.of(chat.incoming.conversation_kind)
        if isinstance(data, dict) and data.get("lead") == CHECKIN:  # an owner's check-in (bot.leads.checkins)
            lead = await self._is_lead(chat.incoming)
            return await checkins.on_checkin(self._turn(chat, scope, lead), parse_checkin(data))
        form = parse_make_action(data)
        action = parse_lead_action(data)
        if action is None and form is None:
            return "I couldn't read that card's data. Type the command again."
        if not await self._is_lead(chat.incoming):
            return "Only partnership leads can do that."
        turn = self._turn(chat, scope, lead=True)
        if form is not None:
            return await actions.from_form(turn, form)
        assert action is not None
        if action.lead == "start_form":
            return await starting.start_from_form(turn, action)
        if action.survey_id is None:
            return "I couldn't read that card's data. Type the command again."
        if action.lead == "cancel":
            return await starting.cancel(turn, action.survey_id)
        return await starting.confirm(turn, action.survey_id)

    async def on_file_consent(self, chat: LeadConversation) -> None:
        """A lead allowed or declined an export file (bot.leads.lead_files); the caller answers the invoke."""
        await self._files.on_file_consent(chat)

    def _turn(self, chat: LeadConversation, scope: Scope, lead: bool) -> LeadTurn:
        reach = reach_of(chat.incoming, scope=scope, lead=lead)
        return LeadTurn(chat=chat, services=self._s, files=self._files, scope=scope, lead=lead, reach=reach)

    async def _is_lead(self, incoming: Incoming) -> bool:
        """The one permission check: the sender's AAD object id among the leads (settings or granted)."""
        sender = incoming.sender
        async with transaction(self._s.sessions) as session:
            return await is_lead(
                session, sender.aad_object_id if sender else None, configured=self._s.configured_leads
            )
