"""The port the lead use cases answer through: what the turn says (`Incoming`, plain values read once)
and the few things they do with it (`LeadConversation`). bot.teams.lead_turns implements it around a
Teams turn, so no use case here touches the Bot Framework SDK.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field

from bot.cards import Card
from storage.roster import Member

if TYPE_CHECKING:
    from bot.leads.offers import UploadInfo

CLAIMED_ACTIVITY = "surveybot.claimed_activity"
"""The turn's claim key (turn_state): a command run again after a crash finds what it made."""
FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"
"""The attachment kind of a file a person sends the bot in personal scope."""


class DownloadContent(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    download_url: str = Field(alias="downloadUrl", min_length=1, max_length=4000)
    file_type: str = Field(default="", alias="fileType", max_length=40)


class SentFile(BaseModel):
    """A file attachment as Teams delivers it in personal scope (download info)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = Field(default="workbook.xlsx", min_length=1, max_length=300)
    content: DownloadContent

    @property
    def is_workbook(self) -> bool:
        suffix = PurePosixPath(self.name.lower()).suffix
        return suffix == ".xlsx" or (not suffix and self.content.file_type.lower() == "xlsx")


@dataclass(frozen=True)
class Sender:
    """Who typed or pressed: their Teams user id, display name and AAD object id (the lead check's key)."""

    teams_user_id: str
    name: str | None = None
    aad_object_id: str | None = None


@dataclass(frozen=True)
class Incoming:
    """What a lead's activity says, read once by the adapter."""

    activity_id: str | None
    conversation_id: str | None
    """None when the activity names no conversation."""
    conversation_kind: str | None
    """`channel`, `groupChat` or `personal` (bot.commands.Scope.of)."""
    conversation_tenant_id: str | None
    """The tenant the conversation names (the outbox delivers there)."""
    tenant_id: str | None
    """The conversation's tenant, else the one in the channel data (bot.teams.edge.tenant_of)."""
    service_url: str | None
    sender: Sender | None
    team_id: str | None = None
    mentioned: tuple[str, ...] = ()
    """Teams user ids of the people mentioned (not the bot), in order, each once."""
    file_sent: bool = False
    """Whether the message carries a file a person sent (of any kind, readable or not)."""
    file: SentFile | None = None
    """The first file sent, when it reads as one."""
    value: object = None
    """An invoke's value (a file consent's answer)."""
    claim: str | None = None
    """The turn's claim key: a command run again after a crash finds what it made (bot.teams.leased)."""


def sender_of(incoming: Incoming) -> Sender:
    """Who sent a lead's activity; every Teams message and invoke names them."""
    if incoming.sender is None:
        raise ValueError("the activity names no sender")
    return incoming.sender


class LeadConversation(Protocol):
    """One lead turn as the use cases see it: what came in, and the ways to answer."""

    @property
    def incoming(self) -> Incoming: ...

    def typed_text(self) -> str:
        """The message's text without the mention of the bot."""
        ...

    async def say(self, text: str) -> None: ...

    async def send_card(self, card: Card) -> None:
        """An Adaptive Card alone in its message."""
        ...

    async def send_file_info(self, info: UploadInfo) -> None:
        """The card Teams shows for a file now in the person's OneDrive: it opens the file."""
        ...

    async def roster(self) -> list[Member]:
        """Everyone in this team or chat; raises bot.teams.roster.RosterUnavailable when Teams is busy."""
        ...

    async def member(self, user_id: str) -> Member | None:
        """One member of this team or chat by Teams user id (None when not a member, or a bot)."""
        ...
