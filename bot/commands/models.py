"""The leads' chat commands as typed values: what `parse_command` returns and the use cases take.

A problem raises `CommandError` with a message for the person; text naming no command is
`UnknownCommand`, so the handler always answers (with help), never silence.
"""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from bot.commands.dates import ParsedDate
from frameworks.summary import Weighting

NAME_LIMIT = 200
"""Titles, partnership and organisation names: the storage columns' length."""


class CommandError(Exception):
    """A command that can't be carried out as typed; the message says why and what to type instead."""

    def __init__(self, message: str, kind: str | None = None) -> None:
        self.message = message
        self.kind = kind
        """The command it was (`start`…), when known: check `refusal` first, so a partner isn't coached."""
        super().__init__(message)


class Scope(StrEnum):
    """Where a command is typed, named as in the Teams app manifest."""

    PERSONAL = "personal"
    TEAM = "team"
    GROUP_CHAT = "groupChat"

    @classmethod
    def of(cls, conversation_type: str | None) -> Scope:
        """From an activity's `conversation.conversationType` (`channel`, `groupChat`, `personal`)."""
        return {"channel": cls.TEAM, "groupChat": cls.GROUP_CHAT}.get(conversation_type or "", cls.PERSONAL)


ALL_SCOPES = frozenset(Scope)
SHARED_SCOPES = frozenset({Scope.TEAM, Scope.GROUP_CHAT})
PERSONAL_SCOPE = frozenset({Scope.PERSONAL})


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SurveyRef(_Model):
    """Which survey a command means, as typed (`#12`, `12`, or words of its title); resolved elsewhere."""

    number: int | None = Field(default=None, ge=1)
    fragment: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> SurveyRef:
        if (self.number is None) == (self.fragment is None):
            raise ValueError("a survey reference is a number or a title fragment")
        return self


class PersonRef(_Model):
    name: str
    mentioned: bool
    """True for a Teams mention: match `<at>{name}</at>` against the activity's mention entities (new
    Teams may split one person's name into adjacent mentions sharing an id). False: a typed name."""


class StartCommand(_Model):
    kind: Literal["start"] = "start"
    framework_id: str
    partnership: str | None = None
    closes: ParsedDate | None = None
    title: str | None = None
    target: bool | None = None
    """`with target` (True) or `without target` (False); None: as the framework says (`target_months`)."""
    target_months: int | None = Field(default=None, ge=1, le=120)
    """`with target in 18 months`; None: the framework's horizon, else 12 months."""
    personal_views: bool = True
    """`without personal views` (False): partners get no card of their own when the round closes."""


class StatusCommand(_Model):
    kind: Literal["status"] = "status"
    survey: SurveyRef | None = None


class RemindCommand(_Model):
    kind: Literal["remind"] = "remind"
    survey: SurveyRef | None = None


class CloseCommand(_Model):
    kind: Literal["close"] = "close"
    survey: SurveyRef | None = None
    personal_views: bool | None = None
    """`with|without personal views`: changes the survey's choice as it closes; None keeps it."""


class PersonalViewsCommand(_Model):
    """`personal views [survey] on|off`: whether partners get their own view when it closes."""

    kind: Literal["personal_views"] = "personal_views"
    survey: SurveyRef | None = None
    on: bool


class ReopenCommand(_Model):
    kind: Literal["reopen"] = "reopen"
    survey: SurveyRef | None = None
    closes: ParsedDate | None = None


class FrameworksCommand(_Model):
    kind: Literal["frameworks"] = "frameworks"


class FrameworkExportCommand(_Model):
    """A framework as its workbook, for the lead's 1:1 chat only (bot.leads.lead_files)."""

    kind: Literal["framework_export"] = "framework_export"
    framework_id: str


class SurveysCommand(_Model):
    kind: Literal["surveys"] = "surveys"


class HelpCommand(_Model):
    kind: Literal["help"] = "help"
    topic: str | None = None
    """A command's name (`grant lead`), or `dates`."""


class GrantLeadCommand(_Model):
    kind: Literal["grant_lead"] = "grant_lead"
    people: tuple[PersonRef, ...] = Field(min_length=1)


class RevokeLeadCommand(_Model):
    kind: Literal["revoke_lead"] = "revoke_lead"
    people: tuple[PersonRef, ...] = Field(min_length=1)


class MyOrganisationCommand(_Model):
    kind: Literal["my_organisation"] = "my_organisation"
    name: str | None = None
    """None: show the organisation the person answers for."""


class MapDomainCommand(_Model):
    kind: Literal["map_domain"] = "map_domain"
    domain: str
    organisation: str


class UnmapDomainCommand(_Model):
    kind: Literal["unmap_domain"] = "unmap_domain"
    domain: str


class DomainsCommand(_Model):
    kind: Literal["domains"] = "domains"


class SummaryTarget(_Model):
    """What a summary is of: a survey (by reference, or this chat's latest), or a partnership's latest
    round of a framework (the framework may be left for the bot to find, when the partnership has one)."""

    survey: SurveyRef | None = None
    partnership: str | None = None
    framework_id: str | None = None

    @model_validator(mode="after")
    def _survey_or_partnership(self) -> SummaryTarget:
        if self.survey is not None and self.partnership is not None:
            raise ValueError("a summary is of a survey or of a partnership, not both")
        if self.framework_id is not None and self.partnership is None:
            raise ValueError("a framework is named only with a partnership")
        return self


class ResultsCommand(_Model):
    kind: Literal["results"] = "results"
    target: SummaryTarget = SummaryTarget()
    weighting: Weighting | None = None
    """None: the bot's `SUMMARY_WEIGHTING`."""


class SubscribeCommand(_Model):
    kind: Literal["subscribe"] = "subscribe"
    weekday: int = Field(ge=0, le=6)
    """0 = Monday, as in summary_subscriptions."""
    at: time
    """Wall-clock time in the partnership's time zone."""
    target: SummaryTarget = SummaryTarget()
    weighting: Weighting | None = None


class UnsubscribeCommand(_Model):
    kind: Literal["unsubscribe"] = "unsubscribe"
    target: SummaryTarget = SummaryTarget()


class SubscriptionsCommand(_Model):
    kind: Literal["subscriptions"] = "subscriptions"


class ExportCommand(_Model):
    kind: Literal["export"] = "export"
    survey: SurveyRef | None = None
    format: ExportFormat = ExportFormat.CSV
    anonymise: bool = False
    """No names, small organisations left blank, dates instead of times (storage.exports)."""


class CommentsCommand(_Model):
    """The comment texts of a survey, unattributed, for the lead's 1:1 chat only."""

    kind: Literal["comments"] = "comments"
    survey: SurveyRef | None = None


RagName = Literal["on-track", "at-risk", "off-track", "complete"]
"""An action's RAG as a command names it (storage.tables.ActionRag's values)."""
StateName = Literal["open", "live", "closed"]


class ActionAddCommand(_Model):
    """`action add "<text>" [for <element>] owner @person|email due <date> [survey]` (bot.leads.actions)."""

    kind: Literal["action_add"] = "action_add"
    text: str = Field(min_length=1, max_length=2000)
    element: str | None = None
    """An element's id or words of its title, matched against the survey's framework."""
    owner: PersonRef | None = None
    owner_email: str | None = None
    due: ParsedDate
    survey: SurveyRef | None = None

    @model_validator(mode="after")
    def _one_owner(self) -> ActionAddCommand:
        if (self.owner is None) == (self.owner_email is None):
            raise ValueError("an action has one owner: a mention or an email address")
        return self


class ActionChangeCommand(_Model):
    """`action A3 rag at risk`, `action A3 close|reopen|live`, `action A3 checkin every 2 weeks`."""

    kind: Literal["action_change"] = "action_change"
    number: int = Field(ge=1)
    rag: RagName | None = None
    state: StateName | None = None
    checkin_days: int | None = Field(default=None, ge=1, le=366)
    note: str | None = Field(default=None, max_length=2000)


class ActionsCommand(_Model):
    """The action plan: this channel's (or a survey's, or a partnership's); an owner's own in 1:1."""

    kind: Literal["actions"] = "actions"
    target: SummaryTarget = SummaryTarget()


class ConsensusCommand(_Model):
    """A second look at a round's split elements (and any the lead adds), asked of those who answered."""

    kind: Literal["consensus"] = "consensus"
    survey: SurveyRef | None = None
    elements: tuple[str, ...] = ()
    """Element ids or titles the lead adds, as typed (matched when the round is known)."""


class ShareResultsCommand(_Model):
    """`share results [survey]`: a lead shares a closed consensus round's results with partners."""

    kind: Literal["share_results"] = "share_results"
    survey: SurveyRef | None = None


class UnknownCommand(_Model):
    """Text that names no command: reply with help."""

    kind: Literal["unknown"] = "unknown"
    text: str


class ClarifyChoice(_Model):
    label: str
    """'Friday 4 December 2026, 23:59': a button's title."""
    text: str
    """The whole command again with the date spelled out, to send as if typed."""


class Clarification(_Model):
    """A command whose date has two readings: ask which, offering each as a complete command."""

    kind: Literal["clarify"] = "clarify"
    about: Literal["start", "reopen"]
    """The command being clarified, for `refusal`."""
    question: str
    choices: tuple[ClarifyChoice, ...]


ParsedCommand = Annotated[
    StartCommand
    | StatusCommand
    | RemindCommand
    | CloseCommand
    | ReopenCommand
    | FrameworksCommand
    | FrameworkExportCommand
    | SurveysCommand
    | HelpCommand
    | GrantLeadCommand
    | RevokeLeadCommand
    | MyOrganisationCommand
    | MapDomainCommand
    | UnmapDomainCommand
    | DomainsCommand
    | ResultsCommand
    | SubscribeCommand
    | UnsubscribeCommand
    | SubscriptionsCommand
    | ExportCommand
    | CommentsCommand
    | PersonalViewsCommand
    | ConsensusCommand
    | ShareResultsCommand
    | ActionAddCommand
    | ActionChangeCommand
    | ActionsCommand
    | UnknownCommand
    | Clarification,
    Field(discriminator="kind"),
]
PARSED_COMMAND: TypeAdapter[ParsedCommand] = TypeAdapter(ParsedCommand)
"""Reads a command back from JSON, e.g. from a confirmation card's data."""
