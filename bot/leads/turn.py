"""What every lead use case gets: the bot's services, and the turn it answers (who typed where, whether
they are a lead, which surveys they may see), with the ways to answer.

Use cases run outside the turn's dialog transaction: a roster fetch is an HTTP round trip per page, and
must not hold the database's write lock. Each step commits on its own and is safe to repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.cards import Card
from bot.commands import Scope
from bot.leads.conversation import Incoming, LeadConversation, sender_of
from bot.leads.framework_uploads import DownloadSettings
from bot.leads.lead_files import LeadFiles
from bot.reports.chart_links import ChartUrls
from bot.teams.uploads import UploadSettings
from frameworks.loader import Catalogue
from frameworks.summary import SummaryRules, SurveySummary
from storage.conversations import place_of
from storage.db import Session, Sessions
from storage.people import person_for
from storage.surveys import Reach
from storage.tables import Person, Survey

ROSTER_BUSY = (
    "Teams is too busy to tell me who is in this chat right now, so nothing was started or changed. "
    "Please try again in a minute."
)


@dataclass(frozen=True)
class LeadServices:
    sessions: Sessions
    catalogue: Catalogue
    clock: Callable[[], datetime]
    tz: ZoneInfo
    configured_leads: Sequence[str]
    notify_sender: Callable[[], None]
    """Wake the outbox sender: rows were just added."""
    rules: SummaryRules = field(default_factory=SummaryRules)
    """Anonymity threshold, weighting and the split rule of summaries."""
    chart_link: Callable[[SurveySummary], ChartUrls | None] = lambda _summary: None
    """Signed links to a summary's charts, when the bot has a public address."""
    uploads: UploadSettings = field(default_factory=UploadSettings)
    """How export files are put in a lead's OneDrive (bot.teams.uploads)."""
    downloads: DownloadSettings = field(default_factory=DownloadSettings)
    """How a workbook a lead sends is fetched from Teams (bot.leads.framework_uploads)."""


@dataclass(frozen=True)
class LeadTurn:
    """One command being carried out: decided once per activity, passed to the use case."""

    chat: LeadConversation
    services: LeadServices
    files: LeadFiles
    scope: Scope
    lead: bool
    """Checked once, by the sender's AAD object id (bot.leads.chat)."""
    reach: Reach

    @property
    def incoming(self) -> Incoming:
        return self.chat.incoming

    @property
    def personal(self) -> bool:
        """Typed in a 1:1 chat with the bot."""
        return self.scope is Scope.PERSONAL

    @property
    def tenant_id(self) -> str | None:
        return self.incoming.tenant_id

    @property
    def conversation_id(self) -> str:
        return str(self.incoming.conversation_id)

    def now(self) -> datetime:
        return self.services.clock()

    async def sender(self, session: Session) -> Person:
        """The person who typed the command, as stored (created on first sight)."""
        sender = sender_of(self.incoming)
        return await person_for(session, teams_user_id=sender.teams_user_id, name=sender.name, now=self.now())

    def delivery(self, survey: Survey, report_to: int | None) -> dict[str, Any]:
        """The outbox payload of an invitation or reminder sent from this chat."""
        payload: dict[str, Any] = {
            "service_url": self.incoming.service_url,
            "tenant_id": self.incoming.conversation_tenant_id,
            "fanout": f"invite:{survey.id}",
            "title": survey.title,
        }
        if report_to is not None:
            payload["report_to"] = report_to
        return payload

    async def say(self, text: str) -> None:
        await self.chat.say(text)

    async def send_card(self, card: Card) -> None:
        await self.chat.send_card(card)


def reach_of(incoming: Incoming, *, scope: Scope, lead: bool) -> Reach:
    """Which surveys a command typed here by this person may see (storage.surveys.Reach): decided
    once per activity, passed to every lookup."""
    conversation_id = incoming.conversation_id
    place = None if scope is Scope.PERSONAL or conversation_id is None else place_of(conversation_id)
    return Reach(tenant_id=incoming.tenant_id, place_id=place, lead=lead)


NOT_CLOSING = "no closing date"
