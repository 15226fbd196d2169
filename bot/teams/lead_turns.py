"""The lead use cases' port (bot.leads.conversation) over a Teams turn, and the Teams messages their
private deliveries become: what an activity says is read once into plain values, and cards, file
consent and file info cards are built here, so bot.leads never touches the Bot Framework SDK.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection

from botbuilder.core import MessageFactory, TurnContext
from botbuilder.schema import Activity, ActivityTypes, Attachment
from botbuilder.schema.teams import FileConsentCard, FileInfoCard
from pydantic import ValidationError

from bot.cards import Card, card_message
from bot.leads.chat import LeadCommands
from bot.leads.conversation import CLAIMED_ACTIVITY, FILE_DOWNLOAD_INFO, Incoming, Sender, SentFile
from bot.leads.lead_files import CONSENT_CARD, FILE_INFO_CARD, KINDS, private_message
from bot.leads.offers import FileOffer, UploadInfo
from bot.outbox.composers import Compose
from bot.teams.edge import tenant_of
from bot.teams.references import team_of
from bot.teams.roster import fetch_member, fetch_roster
from dialogs import outgoing
from dialogs.messages import Attachment as MessageAttachment
from dialogs.messages import Message
from frameworks.clock import Clock
from frameworks.loader import Catalogue
from frameworks.summary import SummaryRules
from storage.db import Session
from storage.roster import Member
from storage.surveys import SnapshotCache
from storage.tables import OutboxMessage


class TeamsLeadConversation:
    """A lead turn in Teams: replies go through dialogs.outgoing (held until the turn's claim is done)."""

    def __init__(self, context: TurnContext) -> None:
        self._context = context
        self.incoming = incoming_of(context)

    def typed_text(self) -> str:
        activity = self._context.activity
        if activity.recipient is None:  # Teams always says who is addressed; a client might not
            return activity.text or ""
        return TurnContext.remove_recipient_mention(activity) or activity.text or ""

    async def say(self, text: str) -> None:
        await outgoing.send(self._context, MessageFactory.text(text))

    async def send_card(self, card: Card) -> None:
        await outgoing.send(self._context, card_message(card))

    async def send_file_info(self, info: UploadInfo) -> None:
        await outgoing.send(self._context, file_info_activity(info))

    async def roster(self) -> list[Member]:
        return await fetch_roster(self._context)

    async def member(self, user_id: str) -> Member | None:
        return await fetch_member(self._context, user_id)


def typed_commands(leads: LeadCommands) -> Callable[[TurnContext], Awaitable[bool]]:
    """The lead commands as the partner conversation (dialogs.router) tries a 1:1 message: True when
    it was one."""

    async def commands(context: TurnContext) -> bool:
        return await leads.on_message(TeamsLeadConversation(context))

    return commands


def incoming_of(context: TurnContext) -> Incoming:
    """What a lead's activity says, as plain values."""
    activity = context.activity
    conversation = activity.conversation
    account = activity.from_property
    return Incoming(
        activity_id=activity.id,
        conversation_id=conversation.id if conversation else None,
        conversation_kind=conversation.conversation_type if conversation else None,
        conversation_tenant_id=conversation.tenant_id if conversation else None,
        tenant_id=tenant_of(activity),
        service_url=activity.service_url,
        sender=Sender(account.id, account.name, account.aad_object_id) if account is not None else None,
        team_id=team_of(activity),
        mentioned=mentioned(activity),
        file_sent=has_file(activity),
        file=sent_file(activity),
        value=activity.value,
        claim=context.turn_state.get(CLAIMED_ACTIVITY),
    )


def mentioned(activity: Activity) -> tuple[str, ...]:
    """Teams user ids of the people mentioned (not the bot), in order, each once."""
    bot_id = activity.recipient.id if activity.recipient else None
    ids: list[str] = []
    for entity in activity.entities or []:
        if entity.type != "mention":
            continue
        who_mentioned = (entity.additional_properties or {}).get("mentioned")
        who = who_mentioned.get("id") if isinstance(who_mentioned, dict) else None
        if isinstance(who, str) and who and who != bot_id and who not in ids:
            ids.append(who)
    return tuple(ids)


def has_file(activity: Activity) -> bool:
    """Whether a message carries a file a person sent (of any kind, readable or not)."""
    return any(
        getattr(attachment, "content_type", None) == FILE_DOWNLOAD_INFO
        for attachment in activity.attachments or []
    )


def sent_file(activity: Activity) -> SentFile | None:
    for attachment in activity.attachments or []:
        if attachment.content_type != FILE_DOWNLOAD_INFO:
            continue
        try:
            return SentFile.model_validate(
                {"name": attachment.name or "workbook.xlsx", "content": attachment.content}
            )
        except ValidationError:
            return None
    return None


def consent_message(offer: FileOffer) -> Message:
    """The file consent card, alone in its message. Declining hands back the same context."""
    context = offer.offer.model_dump(mode="json")
    card = FileConsentCard(
        description=offer.description,
        size_in_bytes=offer.size,
        accept_context=context,
        decline_context=context,
    )
    attachment = MessageAttachment(CONSENT_CARD, card.serialize(), name=offer.filename)
    return Message(attachments=(attachment,))


def file_info_activity(info: UploadInfo) -> Activity:
    """The card Teams shows for a file now in the person's OneDrive: it opens the file."""
    card = FileInfoCard(unique_id=info.unique_id, file_type=info.file_type)
    attachment = Attachment(
        content_type=FILE_INFO_CARD, name=info.name, content_url=info.content_url, content=card.serialize()
    )
    return Activity(type=ActivityTypes.message, attachments=[attachment])


def private_composer(
    fallback: Compose,
    *,
    rules: SummaryRules,
    configured_leads: Collection[str],
    clock: Clock,
    snapshots: SnapshotCache | None = None,
    catalogue: Catalogue | None = None,
) -> Compose:
    """Builds a lead's private rows (bot.leads.lead_files.KINDS) when they are sent; any other row goes
    to `fallback`."""
    cache = snapshots or SnapshotCache()
    built_in = catalogue or Catalogue()

    async def compose(session: Session, message: OutboxMessage) -> Message | None:
        if message.kind not in KINDS:
            return await fallback(session, message)
        private = await private_message(
            session,
            message,
            rules=rules,
            configured_leads=configured_leads,
            clock=clock,
            snapshots=cache,
            catalogue=built_in,
        )
        if private is None:
            return None
        if isinstance(private, FileOffer):
            return consent_message(private)
        return card_message(private)

    return compose
