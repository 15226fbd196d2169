"""A lead's private deliveries: exports as files and comment texts, only ever in the lead's 1:1 chat.

Files. Teams lets a bot send a file only in a personal chat, and only with the person's consent. The
bot sends a file consent card (`CONSENT_CARD`: the file's name and size, a description, and contexts
that Teams hands back); if the person allows it, Teams creates the file in their OneDrive and sends a
`fileConsent/invoke` whose value carries an upload URL; the bot puts the bytes there (`bot.teams.uploads`)
and posts a file info card (`FILE_INFO_CARD`) that opens the file. The invoke is answered 200
whatever happened; the person is told what did in words. A failed upload is logged and explained.

The accept context (`ExportOffer`) names the survey, the format, anonymisation, who asked (AAD object
id) and until when the offer stands. It comes back from the client, so on accept nothing in it is
trusted: it must parse, be unexpired and name the person accepting, who must still be a lead (the
check every lead command makes). The file is then written again from the database, so it holds the
answers as they are when the lead allows it. The handler claims the invoke's activity id before any
of this, so a Teams retry of one acceptance uploads nothing a second time. The file is written and
uploaded before the invoke is answered, as Microsoft's samples do: should a very large workbook take
longer than Teams waits, Teams says so to the person, the upload still completes and its file card is
still posted, and the retry is recognised and ignored.

Where things go. The consent card always goes through the outbox (`EXPORT_KIND`), so the file whose
size it shows is written by the sender, never inside a chat turn; the request gets one line. Comments
typed for in the lead's 1:1 chat are the reply; typed in a channel or group chat, the chat gets one
line and the card goes through the outbox (`COMMENTS_KIND`). The outbox creates the 1:1 chat if need
be and brings retries, Teams' rate limits and the handling of a blocked bot. Outbox rows carry no
comment text and no file: `private_composer` builds the message when the row is sent, and sends nothing
if the person is no longer a lead by then (or the offer has expired). Comment texts are never attributed (see
`bot.cards.comment_cards`) and never reach a channel.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from bot.cards import Card
from bot.cards.comment_cards import comments_card
from bot.commands.models import ExportFormat
from bot.leads.conversation import Incoming, LeadConversation, sender_of
from bot.leads.offers import (
    OFFER,
    ExportOffer,
    FileConsentResponse,
    FileOffer,
    FrameworkMessage,
    FrameworkOffer,
    Offer,
    OfferMessage,
    UploadInfo,
)
from bot.leads.tenant_frameworks import UsableFramework, find_framework
from bot.reports.exports import export_file, export_filename
from bot.reports.text import clip
from bot.teams.uploads import UploadFailed, UploadSettings, upload
from frameworks.clock import Clock
from frameworks.loader import Catalogue
from frameworks.summary import SummaryRules, SurveySummary
from frameworks.workbook import write_workbook
from storage.db import Session, Sessions, transaction
from storage.errors import SurveyNotFound
from storage.exports import AnswerExport, export_data
from storage.leads import is_lead, normalise_aad_id
from storage.outbox import NewMessage, enqueue
from storage.people import person_for
from storage.summaries import survey_comments
from storage.surveys import Reach, SnapshotCache, find_survey
from storage.tables import OutboxKind, OutboxMessage, Person, stored_id

log = logging.getLogger(__name__)

EXPORT_KIND = OutboxKind.LEAD_EXPORT
COMMENTS_KIND = OutboxKind.LEAD_COMMENTS
FRAMEWORK_KIND = OutboxKind.LEAD_FRAMEWORK
KINDS = (EXPORT_KIND, COMMENTS_KIND, FRAMEWORK_KIND)
FILE_CONSENT = "fileConsent/invoke"
CONSENT_CARD = "application/vnd.microsoft.teams.card.file.consent"
FILE_INFO_CARD = "application/vnd.microsoft.teams.card.file.info"
OFFER_LIFETIME = timedelta(days=1)
"""How long a consent card can be accepted; the file is written afresh on accept either way."""

SENT_EXPORT = "I've sent the export to you in a private chat."
PREPARING_EXPORT = "Preparing the file: allow it on the card that follows, and it is saved to your OneDrive."
SENT_COMMENTS = "I've sent the comments to you in a private chat."
DECLINED = "OK, I won't send the file."
UNREADABLE = "I couldn't read that file request, so I sent nothing. Ask again with export."
EXPIRED = "That offer has expired, so I sent nothing. Ask again with export."
NOT_YOURS = "That export was prepared for someone else, so I sent nothing."
NOT_A_LEAD = "Only partnership leads can receive exports, so I sent nothing."
SURVEY_GONE = "That survey no longer exists, so there is nothing to send."
UPLOAD_FAILED = (
    "I couldn't save the file to your OneDrive, so nothing was shared. Please try export again in a moment."
)
SENT_FRAMEWORK = "I've sent the workbook to you in a private chat."
PREPARING_FRAMEWORK = (
    "Preparing the workbook: allow it on the card that follows, and it is saved to your OneDrive."
)
FRAMEWORK_GONE = "That framework is no longer available, so there is nothing to send."
NO_AAD_ID = "I can't tell who you are in your organisation's directory, so I can't send you files."


def description(export: AnswerExport) -> str:
    """What the consent card says the file is (plain text: Teams shows it as written)."""
    what = (
        "anonymised: no names, small organisations left blank, dates instead of times"
        if export.anonymised
        else "with the names of those who answered"
    )
    return (
        f"Every answer to “{clip(export.title, 120)}” (survey #{export.survey_id}), {what}. "
        "It is written afresh when you allow it, so it holds the latest answers."
    )


def framework_description(usable: UsableFramework) -> str:
    """What the consent card says a framework workbook is (plain text)."""
    which = (
        f"your partnership's published version {usable.published_version}"
        if usable.published_version is not None
        else "the built-in version"
    )
    return (
        f"“{clip(usable.framework.title, 120)}” ({usable.framework.id}) as an Excel workbook, {which}. "
        "Change it and send it back to me in this chat to publish your own version."
    )


async def framework_workbook(
    session: Session, offer: FrameworkOffer, catalogue: Catalogue
) -> tuple[UsableFramework, bytes] | None:
    """The framework the offer names, as the offer's tenant has it now, and its workbook (written in a
    worker thread: openpyxl is blocking)."""
    usable = await find_framework(
        session, built_in=catalogue, tenant_id=offer.tenant_id, framework_id=offer.framework_id
    )
    if usable is None:
        return None
    return usable, await asyncio.to_thread(write_workbook, usable.framework)


async def lead_comments_card(
    session: Session, survey_id: int, *, rules: SummaryRules, snapshots: SnapshotCache
) -> Card:
    """The comments card for a lead, from the database as it is now."""
    found = await survey_comments(session, survey_id, rules=rules, cache=snapshots)
    _, framework = await snapshots.survey(session, survey_id)
    return comments_card(found, {domain.id: domain.title for domain in framework.domains})


class LeadFiles:
    """`export` and `comments` for leads, and the file consent that follows an export."""

    def __init__(
        self,
        *,
        sessions: Sessions,
        clock: Clock,
        rules: SummaryRules,
        is_lead: Callable[[Incoming], Awaitable[bool]],
        notify_sender: Callable[[], None],
        uploads: UploadSettings | None = None,
        snapshots: SnapshotCache | None = None,
        offer_lifetime: timedelta = OFFER_LIFETIME,
        catalogue: Catalogue | None = None,
    ) -> None:
        """`is_lead` is the lead commands' own check, so accepting a file is judged as a command is."""
        self._sessions = sessions
        self._clock = clock
        self._rules = rules
        self._is_lead = is_lead
        self._notify_sender = notify_sender
        self._uploads = uploads or UploadSettings()
        self._snapshots = snapshots or SnapshotCache()
        self._offer_lifetime = offer_lifetime
        self._catalogue = catalogue or Catalogue()

    # Requests --------------------------------------------------------------------------------------

    async def export(
        self,
        chat: LeadConversation,
        survey_id: int,
        *,
        file_format: ExportFormat,
        anonymise: bool,
        personal: bool,
    ) -> None:
        """Offer the export as a file, in the lead's 1:1 chat, through the outbox in every scope: the
        card shows the file's size, so the file is written when the card is built, by the sender, never
        inside a chat turn (whose transaction may hold the database's write lock). It is written again
        on accept."""
        sender = chat.incoming.sender
        if sender is None or not sender.aad_object_id:
            await chat.say(NO_AAD_ID)
            return
        offer = ExportOffer(
            survey_id=survey_id,
            format=file_format,
            anonymise=anonymise,
            requested_by=sender.aad_object_id,
            expires_at=self._clock() + self._offer_lifetime,
        )
        await self._send_privately(
            chat.incoming, EXPORT_KIND, survey_id, {"offer": offer.model_dump(mode="json")}
        )
        await chat.say(PREPARING_EXPORT if personal else SENT_EXPORT)

    async def framework(self, chat: LeadConversation, framework_id: str, *, personal: bool) -> None:
        """Offer a framework's workbook in the lead's 1:1 chat, through the outbox as `export` does."""
        sender = chat.incoming.sender
        tenant_id = chat.incoming.tenant_id
        if sender is None or not sender.aad_object_id or not tenant_id:
            await chat.say(NO_AAD_ID)
            return
        offer = FrameworkOffer(
            framework_id=framework_id,
            tenant_id=tenant_id,
            requested_by=sender.aad_object_id,
            expires_at=self._clock() + self._offer_lifetime,
        )
        await self._send_privately(
            chat.incoming, FRAMEWORK_KIND, None, {"offer": offer.model_dump(mode="json")}
        )
        await chat.say(PREPARING_FRAMEWORK if personal else SENT_FRAMEWORK)

    async def comments(self, chat: LeadConversation, survey_id: int, *, personal: bool) -> None:
        """The survey's comment texts for the lead: here in a 1:1 chat, else in the lead's 1:1 chat."""
        if personal:
            async with transaction(self._sessions) as session:
                card = await lead_comments_card(
                    session, survey_id, rules=self._rules, snapshots=self._snapshots
                )
            await chat.send_card(card)
            return
        await self._send_privately(chat.incoming, COMMENTS_KIND, survey_id, {})
        await chat.say(SENT_COMMENTS)

    async def _send_privately(
        self, incoming: Incoming, kind: OutboxKind, survey_id: int | None, payload: dict[str, Any]
    ) -> None:
        """Queue a message for the sender's 1:1 chat; the outbox creates the chat if there is none."""
        sender = sender_of(incoming)
        now = self._clock()
        async with transaction(self._sessions) as session:
            person = await person_for(session, teams_user_id=sender.teams_user_id, name=sender.name, now=now)
            await enqueue(
                session,
                [
                    NewMessage(
                        dedupe_key=_dedupe_key(kind, stored_id(person.id), incoming, now),
                        kind=kind,
                        survey_id=survey_id,
                        person_id=person.id,
                        payload={
                            **payload,
                            "service_url": incoming.service_url,
                            "tenant_id": incoming.tenant_id,
                        },
                    )
                ],
                now=now,
            )
        self._notify_sender()
        log.info("%s (survey %s) queued for the lead's 1:1 chat", kind, survey_id)

    # Consent ---------------------------------------------------------------------------------------

    async def on_file_consent(self, chat: LeadConversation) -> None:
        """A `fileConsent/invoke`: upload on a valid acceptance, and tell the person what happened.

        The caller answers the invoke (200) and has claimed its activity id already."""
        try:
            response = FileConsentResponse.model_validate(chat.incoming.value)
        except ValidationError:
            log.info("file consent with an unreadable value; nothing uploaded")
            await chat.say(UNREADABLE)
            return
        if response.action == "decline":
            log.info("file consent declined")
            await chat.say(DECLINED)
            return
        try:
            if isinstance(response.context, str):  # a client may hand the context back as JSON text
                offer: Offer | None = OFFER.validate_json(response.context)
            else:
                offer = OFFER.validate_python(response.context)
        except ValidationError:
            offer = None
        if offer is None or response.upload_info is None:
            log.info("file consent accepted with an unreadable context; nothing uploaded")
            await chat.say(UNREADABLE)
            return
        refused = await self._refusal(chat.incoming, offer)
        if refused is not None:
            await chat.say(refused)
            return
        if isinstance(offer, FrameworkOffer):
            await self._upload_framework(chat, offer, response.upload_info)
        else:
            await self._upload(chat, offer, response.upload_info)

    async def _refusal(self, incoming: Incoming, offer: Offer) -> str | None:
        sender = incoming.sender
        accepting = sender.aad_object_id if sender is not None else None
        what = offer.offer.value
        if not accepting or normalise_aad_id(accepting) != normalise_aad_id(offer.requested_by):
            log.warning("an offered %s was accepted by someone other than its lead", what)
            return NOT_YOURS
        if isinstance(offer, FrameworkOffer) and incoming.tenant_id != offer.tenant_id:
            log.warning("an offered framework workbook was accepted from another tenant")
            return NOT_YOURS
        if not await self._is_lead(incoming):
            log.info("an offered %s was accepted by someone no longer a lead", what)
            return NOT_A_LEAD
        if offer.expires_at <= self._clock():
            return EXPIRED
        return None

    async def _upload(self, chat: LeadConversation, offer: ExportOffer, info: UploadInfo) -> None:
        now = self._clock()
        # The context names a survey and comes from the client: only one within the lead's reach.
        reach = Reach(tenant_id=chat.incoming.tenant_id, place_id=None, lead=True)
        try:
            async with transaction(self._sessions) as session:
                if await find_survey(session, reach=reach, number=offer.survey_id) is None:
                    raise SurveyNotFound(offer.survey_id)
                export, summary = await _export_data(session, offer, self._rules, self._snapshots, now)
        except SurveyNotFound:
            await chat.say(SURVEY_GONE)
            return
        data = await export_file(export, offer.format.value, summary)
        try:
            await upload(info.upload_url, data, self._uploads)
        except UploadFailed as failure:
            log.warning("export of survey %s was not uploaded: %s", offer.survey_id, failure.reason)
            await chat.say(UPLOAD_FAILED)
            return
        log.info(
            "export of survey %s uploaded: %d bytes, %s%s",
            offer.survey_id,
            len(data),
            offer.format.value,
            ", anonymised" if offer.anonymise else "",
        )
        await chat.send_file_info(info)

    async def _upload_framework(
        self, chat: LeadConversation, offer: FrameworkOffer, info: UploadInfo
    ) -> None:
        """The workbook written afresh from the tenant's frameworks as they are now, then uploaded."""
        async with transaction(self._sessions) as session:
            found = await framework_workbook(session, offer, self._catalogue)
        if found is None:
            await chat.say(FRAMEWORK_GONE)
            return
        _, data = found
        try:
            await upload(info.upload_url, data, self._uploads)
        except UploadFailed as failure:
            log.warning("workbook of framework %s was not uploaded: %s", offer.framework_id, failure.reason)
            await chat.say(UPLOAD_FAILED)
            return
        log.info("workbook of framework %s uploaded: %d bytes", offer.framework_id, len(data))
        await chat.send_file_info(info)


async def private_message(
    session: Session,
    message: OutboxMessage,
    *,
    rules: SummaryRules,
    configured_leads: Collection[str],
    clock: Clock,
    snapshots: SnapshotCache,
    catalogue: Catalogue,
) -> FileOffer | Card | None:
    """What a row of `KINDS` carries, built when it is sent (a consent card's content, or the comments
    card): nothing for someone no longer a lead, nor for an offer already expired. The outbox's
    composer (bot.teams.lead_turns) turns it into a message."""
    if message.person_id is None or (message.survey_id is None and message.kind != FRAMEWORK_KIND):
        return None
    person = await session.get(Person, message.person_id)
    if person is None or not await is_lead(session, person.aad_object_id, configured=configured_leads):
        log.info("outbox row %s: its person is no longer a lead; not sent", message.id)
        return None
    if message.kind == FRAMEWORK_KIND:
        return await _framework_consent(session, message, catalogue, clock())
    if message.kind == COMMENTS_KIND and message.survey_id is not None:
        return await lead_comments_card(session, message.survey_id, rules=rules, snapshots=snapshots)
    try:
        offered = OfferMessage.model_validate(message.payload)
    except ValidationError:
        log.warning("outbox row %s: its export offer is unreadable; not sent", message.id)
        return None
    offer = offered.offer
    now = clock()
    if offer.expires_at <= now:
        log.info("outbox row %s: its export offer expired before it could be sent", message.id)
        return None
    export, summary = await _export_data(session, offer, rules, snapshots, now)
    data = await export_file(export, offer.format.value, summary)
    return FileOffer(
        offer,
        filename=export_filename(export, offer.format.value, now.date()),
        size=len(data),
        description=description(export),
    )


async def _framework_consent(
    session: Session, message: OutboxMessage, catalogue: Catalogue, now: datetime
) -> FileOffer | None:
    try:
        offer = FrameworkMessage.model_validate(message.payload).offer
    except ValidationError:
        log.warning("outbox row %s: its framework offer is unreadable; not sent", message.id)
        return None
    if offer.expires_at <= now:
        log.info("outbox row %s: its framework offer expired before it could be sent", message.id)
        return None
    found = await framework_workbook(session, offer, catalogue)
    if found is None:
        log.info(
            "outbox row %s: framework %s is no longer available; not sent", message.id, offer.framework_id
        )
        return None
    usable, data = found
    return FileOffer(
        offer,
        filename=f"{offer.framework_id}.xlsx",
        size=len(data),
        description=framework_description(usable),
    )


async def _export_data(
    session: Session, offer: ExportOffer, rules: SummaryRules, cache: SnapshotCache, now: datetime
) -> tuple[AnswerExport, SurveySummary | None]:
    return await export_data(
        session,
        survey_id=offer.survey_id,
        with_summary=offer.format == ExportFormat.XLSX,
        anonymise=offer.anonymise,
        rules=rules,
        now=now,
        cache=cache,
    )


def _dedupe_key(kind: str, person_id: int, incoming: Incoming, now: datetime) -> str:
    """One row per request: the request's activity (Teams' retries carry the same id, and are
    dropped by the handler's claim before this), else the moment."""
    conversation = incoming.conversation_id if incoming.conversation_id is not None else ""
    source = f"{conversation}|{incoming.activity_id}" if incoming.activity_id else now.isoformat()
    return f"{kind}:{person_id}:{hashlib.sha256(source.encode()).hexdigest()[:32]}"
