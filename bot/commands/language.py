"""The leads' chat commands (`start`, `status`, `close`, `grant lead` …) typed in a channel, chat or 1:1.

The first word or two name the command, matched as whole tokens, never as a substring. The text arrives
with the bot's mention removed but may still carry Teams HTML (`<p>`, `&nbsp;`, links, `<at>Name</at>`
for people) and Outlook's smart quotes. A problem raises `CommandError` with a message for the person;
text naming no command is `UnknownCommand`, so the handler always answers (with help), never silence.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from bot.commands.dates import (
    DATE_HELP,
    EXAMPLES,
    WEEKDAY_NAMES,
    Ambiguous,
    DateError,
    ParsedDate,
    format_date,
    parse_date,
    parse_time_of_day,
    parse_weekday,
)
from frameworks.summary import Weighting

NAME_LIMIT = 200
"""Titles, partnership and organisation names: the storage columns' length."""

MENU_LIMIT, MENU_TITLE_LIMIT, MENU_DESCRIPTION_LIMIT = 12, 32, 128
"""Teams' command menu: at most 12 commands per scope; its documented title and description lengths."""


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


class StatusCommand(_Model):
    kind: Literal["status"] = "status"
    survey: SurveyRef | None = None


class RemindCommand(_Model):
    kind: Literal["remind"] = "remind"
    survey: SurveyRef | None = None


class CloseCommand(_Model):
    kind: Literal["close"] = "close"
    survey: SurveyRef | None = None


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
    | UnknownCommand
    | Clarification,
    Field(discriminator="kind"),
]
PARSED_COMMAND: TypeAdapter[ParsedCommand] = TypeAdapter(ParsedCommand)
"""Reads a command back from JSON, e.g. from a confirmation card's data."""


class CommandSpec(_Model):
    """One command as help and the Teams app manifest describe it."""

    kind: str
    name: str
    """What is typed first; also the manifest command's title."""
    syntax: str
    description: str
    example: str
    scopes: frozenset[Scope]
    lead_only: bool
    leads_only_in: frozenset[Scope] = frozenset()
    """Scopes where only leads have it: there a partner's same words mean something of their own."""
    menu: frozenset[Scope] = frozenset()
    """Scopes whose Teams command menu suggests it (at most 12 per scope; every command can be typed)."""
    details: str | None = None
    elsewhere: str | None = None
    """What to say when it is typed where it doesn't work (else: where it does)."""


_ALL = frozenset(Scope)
_SHARED = frozenset({Scope.TEAM, Scope.GROUP_CHAT})
_PERSONAL = frozenset({Scope.PERSONAL})

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        kind="help",
        name="help",
        syntax="help [command]",
        description="What I can do here, or how to use one command",
        example="help start",
        scopes=_ALL,
        lead_only=False,
        menu=_ALL,
    ),
    CommandSpec(
        kind="surveys",
        name="surveys",
        syntax="surveys",
        description="The surveys started here, open and closed, with their numbers",
        example="surveys",
        scopes=_ALL,
        lead_only=False,
        leads_only_in=_PERSONAL,  # a partner's "surveys" in 1:1 is their own list (dialogs.intents)
        menu=_SHARED,
        details="In a 1:1 chat with me, a lead sees every survey they can reach and where it was started.",
    ),
    CommandSpec(
        kind="frameworks",
        name="frameworks",
        syntax="frameworks",
        description="The frameworks a survey can use, with their ids",
        example="frameworks",
        scopes=_ALL,
        lead_only=False,
        menu=_ALL,
    ),
    CommandSpec(
        kind="status",
        name="status",
        syntax="status [survey]",
        description="How many have answered so far, by organisation",
        example="status #12",
        scopes=_ALL,
        lead_only=False,
        menu=_ALL,
        details="Name a survey by its number (#12) or words from its title; without one, the latest here.",
    ),
    CommandSpec(
        kind="results",
        name="results",
        syntax="results [survey | partnership <name> [framework <framework>]] [by organisation|respondent]",
        description="A summary of the answers: where partners agree and where they differ",
        example="results #12 by respondent",
        scopes=_ALL,
        lead_only=False,
        menu=_ALL,
        details=(
            "Without a survey, the latest survey started here. With partnership <name>, that partnership's "
            "latest round of its framework, compared with the round before. By organisation gives each "
            "organisation one vote, so a large trust cannot swamp a small partner; by respondent gives "
            "each person one. Without either, the bot's default weighting."
        ),
    ),
    CommandSpec(
        kind="start",
        name="start",
        syntax='start <framework> [for <partnership>] [closes <date>] [title "<text>"]',
        description="Start a survey and invite the partners",
        example="start place-partnership-maturity for Anytown closes Friday 5pm",
        scopes=_SHARED,
        lead_only=True,
        menu=_SHARED,
        elsewhere=(
            "Start a survey in the channel or group chat whose members should answer it: mention me "
            "there, e.g. @Survey bot start place-partnership-maturity. Everyone in it is invited once "
            "you confirm."
        ),
        details=(
            "The framework is its id or words from its title (say frameworks to see them). Put a name "
            'or title that contains "for", "closes" or "title" in quotes. ' + DATE_HELP
        ),
    ),
    CommandSpec(
        kind="remind",
        name="remind",
        syntax="remind [survey]",
        description="Remind everyone who hasn't submitted yet",
        example="remind #12",
        scopes=_ALL,
        lead_only=True,
        menu=_ALL,
    ),
    CommandSpec(
        kind="close",
        name="close",
        syntax="close [survey]",
        description="Close a survey now: no more answers",
        example="close #12",
        scopes=_ALL,
        lead_only=True,
        menu=_ALL,
    ),
    CommandSpec(
        kind="reopen",
        name="reopen",
        syntax="reopen [survey] [closes <date>]",
        description="Open a closed survey again, with a new close date if you like",
        example="reopen #12 closes in 1 week",
        scopes=_ALL,
        lead_only=True,
        menu=_SHARED,
        details=DATE_HELP,
    ),
    CommandSpec(
        kind="export",
        name="export",
        syntax="export [survey] [csv|xlsx] [anonymised]",
        description="Every answer of a survey as a CSV or Excel file, sent to you privately",
        example="export #12 xlsx anonymised",
        scopes=_ALL,
        lead_only=True,
        menu=_ALL,
        details=(
            "The file comes to your 1:1 chat with me, wherever you ask; allow it there and it is saved to "
            "your OneDrive. Anonymised: no names, small organisations left blank, dates instead of times. "
            "Excel adds a summary sheet."
        ),
    ),
    CommandSpec(
        kind="comments",
        name="comments",
        syntax="comments [survey]",
        description="What partners wrote, by question, unattributed and sent to you privately",
        example="comments #12",
        scopes=_ALL,
        lead_only=True,
        menu=_PERSONAL,
        details=(
            "Never shown in a channel: asked for there, they come to your 1:1 chat with me. Questions "
            "answered by too few people to keep them anonymous show none."
        ),
    ),
    CommandSpec(
        kind="subscribe",
        name="subscribe",
        syntax=(
            "subscribe weekly <day> <HH:MM> [survey | partnership <name> [framework <framework>]] "
            "[by organisation|respondent]"
        ),
        description="Post a summary here every week",
        example='subscribe weekly Monday 09:00 partnership "Anytown place"',
        scopes=_SHARED,
        lead_only=True,
        menu=_SHARED,
        details=(
            "Without a survey, the latest survey started here. With partnership <name>, each week's post "
            "shows the partnership's latest round, so its next round is picked up by itself. Each post "
            "says what changed since the last one; a week with no new answers gets one line."
        ),
    ),
    CommandSpec(
        kind="unsubscribe",
        name="unsubscribe",
        syntax="unsubscribe [survey | partnership <name> [framework <framework>]]",
        description="Stop a weekly summary here",
        example="unsubscribe #12",
        scopes=_SHARED,
        lead_only=True,
    ),
    CommandSpec(
        kind="subscriptions",
        name="subscriptions",
        syntax="subscriptions",
        description="The weekly summaries posted here",
        example="subscriptions",
        scopes=_SHARED,
        lead_only=False,
    ),
    CommandSpec(
        kind="grant_lead",
        name="grant lead",
        syntax="grant lead @person",
        description="Let someone start and run surveys",
        example="grant lead @Amina Khan",
        scopes=_ALL,
        lead_only=True,
        menu=_SHARED,
        details="Mention the person (type @ and pick them); several people can be granted at once.",
    ),
    CommandSpec(
        kind="revoke_lead",
        name="revoke lead",
        syntax="revoke lead @person",
        description="Stop someone being a lead",
        example="revoke lead @Amina Khan",
        scopes=_ALL,
        lead_only=True,
    ),
    CommandSpec(
        kind="my_organisation",
        name="my organisation",
        syntax="my organisation [<name>]",
        description="See or correct the organisation you answer for",
        example="my organisation Anytown Community Health Trust",
        scopes=_PERSONAL,
        lead_only=False,
        menu=_PERSONAL,
    ),
    CommandSpec(
        kind="map_domain",
        name="map domain",
        syntax='map domain <domain> to "<organisation>"',
        description="People whose email is at this domain answer for this organisation",
        example='map domain anytown-trust.nhs.uk to "Anytown NHS Trust"',
        scopes=_ALL,
        lead_only=True,
        details=(
            "Shared domains such as nhs.net belong to many organisations: people there say "
            "“my organisation …” instead. Also: organisation domain <domain> = <organisation>."
        ),
    ),
    CommandSpec(
        kind="unmap_domain",
        name="unmap domain",
        syntax="unmap domain <domain>",
        description="Forget an email domain's organisation",
        example="unmap domain anytown-trust.nhs.uk",
        scopes=_ALL,
        lead_only=True,
    ),
    CommandSpec(
        kind="domains",
        name="domains",
        syntax="domains",
        description="Email domains and the organisations they stand for",
        example="domains",
        scopes=_ALL,
        lead_only=True,
    ),
    CommandSpec(
        kind="framework_export",
        name="frameworks export",
        syntax="frameworks export <framework>",
        description="A framework as an Excel workbook to adapt, sent to you privately",
        example="frameworks export place-partnership-maturity",
        scopes=_ALL,
        lead_only=True,
        details="Your partnership's latest published version, else the built-in one. Send it back to me "
        "changed, in our 1:1 chat, to publish your own version.",
    ),
)

_SPECS: dict[str, CommandSpec] = {spec.kind: spec for spec in COMMANDS}

PARTNER_COMMANDS: tuple[tuple[str, str], ...] = (
    ("my surveys", "Your open surveys and how far you got"),
    ("resume", "Carry on where you left off"),
)
"""The 1:1 survey commands `dialogs.intents` reads (not parsed here): first in personal help and menu."""

_COMMAND_WORDS: dict[tuple[str, ...], str] = {
    ("help",): "help",
    ("commands",): "help",
    ("surveys",): "surveys",
    ("frameworks",): "frameworks",
    ("frameworks", "export"): "framework_export",
    ("status",): "status",
    ("results",): "results",
    ("start",): "start",
    ("remind",): "remind",
    ("close",): "close",
    ("reopen",): "reopen",
    ("re-open",): "reopen",
    ("export",): "export",
    ("comments",): "comments",
    ("subscribe",): "subscribe",
    ("unsubscribe",): "unsubscribe",
    ("subscriptions",): "subscriptions",
    ("grant", "lead"): "grant_lead",
    ("grant", "leads"): "grant_lead",
    ("revoke", "lead"): "revoke_lead",
    ("revoke", "leads"): "revoke_lead",
    ("my", "organisation"): "my_organisation",
    ("my", "organization"): "my_organisation",
    ("my", "org"): "my_organisation",
    ("map", "domain"): "map_domain",
    ("organisation", "domain"): "map_domain",
    ("organization", "domain"): "map_domain",
    ("unmap", "domain"): "unmap_domain",
    ("domains",): "domains",
    ("organisation", "domains"): "domains",
    ("organization", "domains"): "domains",
}

_HALF_COMMANDS = {
    "grant": "grant lead @Name",
    "revoke": "revoke lead @Name",
    "map": 'map domain anytown-trust.nhs.uk to "Anytown NHS Trust"',
    "unmap": "unmap domain anytown-trust.nhs.uk",
}
"""First words of two-word commands: said alone, they get the full form back."""


# --- reading the text ------------------------------------------------------------------------------

_MARK, _END = "\ue000", "\ue001"
"""Private-use characters standing for a mention while the rest of the HTML is taken apart."""
_MENTION = re.compile(r"<at\b[^>]*>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_QUOTES = str.maketrans(
    {"“": '"', "”": '"', "„": '"', "‟": '"', "«": '"', "»": '"', "″": '"', "‘": "'", "’": "'", "‛": "'"}
)
_TRAILING = re.compile(r"[\s.!?…,;:]+$")
_TOKEN = re.compile(rf'{_MARK}(?P<mention>\d+){_END}|"(?P<quoted>[^"]*)"?|(?P<word>[^\s"{_MARK}]+)')


@dataclass(frozen=True)
class _Token:
    text: str
    quoted: bool = False
    mention: bool = False

    @property
    def word(self) -> str | None:
        """The bare word, casefolded; None for quoted text and mentions, which are never keywords."""
        return None if self.quoted or self.mention else self.text.casefold().rstrip(":,;")

    def render(self) -> str:
        if self.mention:
            return f"<at>{self.text}</at>"
        return f'"{self.text}"' if self.quoted else self.text


def plain_text(text: str) -> str:
    """Teams/Outlook text as typed: no tags or entities, straight quotes, single spaces."""
    text = _TAG.sub(" ", text)
    text = html.unescape(text).translate(_QUOTES)
    return " ".join(_INVISIBLE.sub("", text).split())


def _tokens(text: str) -> list[_Token]:
    names: list[str] = []

    def hold(match: re.Match[str]) -> str:
        names.append(plain_text(match.group(1)).lstrip("@"))
        return f" {_MARK}{len(names) - 1}{_END} "

    text = _MENTION.sub(hold, text.replace(_MARK, "").replace(_END, ""))
    text = _TRAILING.sub("", plain_text(text))
    tokens: list[_Token] = []
    for match in _TOKEN.finditer(text):
        if match["mention"] is not None:
            tokens.append(_Token(names[int(match["mention"])], mention=True))
        elif match["quoted"] is not None:
            tokens.append(_Token(" ".join(match["quoted"].split()), quoted=True))
        else:
            tokens.append(_Token(match["word"]))
    while tokens and tokens[0].mention:  # the bot's own mention, if the handler left it in
        tokens.pop(0)
    return tokens


def _joined(tokens: Sequence[_Token]) -> str:
    return " ".join(token.text for token in tokens if token.text).strip()


# --- parsing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    frameworks: Sequence[tuple[str, str]]
    now: datetime
    tz: ZoneInfo


def parse_command(
    text: str, *, frameworks: Sequence[tuple[str, str]], now: datetime, tz: ZoneInfo
) -> ParsedCommand:
    """Read one message; `frameworks` are the (id, title) pairs `start` may name.

    Returns the command, an `UnknownCommand`, or a `Clarification` when a date has two readings;
    raises CommandError when the command is recognised but can't be used as typed.
    """
    stripped = plain_text(_MENTION.sub(" ", text))
    if stripped == "?":
        return HelpCommand()
    tokens = _tokens(text)
    words = [token.word or "" for token in tokens[:2]]
    for length in (2, 1):
        kind = _COMMAND_WORDS.get(tuple(words[:length])) if len(words) >= length else None
        if kind is not None:
            try:
                return _PARSERS[kind](tokens[length:], _Context(frameworks, now, tz))
            except CommandError as exc:
                exc.kind = kind
                raise
    if words and words[0] in _HALF_COMMANDS:
        raise CommandError(f"Did you mean “{_HALF_COMMANDS[words[0]]}”?")
    return UnknownCommand(text=_joined(tokens))


def _no_arguments(model: Callable[[], ParsedCommand]) -> Callable[[list[_Token], _Context], ParsedCommand]:
    """Listing commands: words after them (`frameworks please`) change nothing."""
    return lambda _args, _ctx: model()


def _start(args: list[_Token], ctx: _Context) -> ParsedCommand:
    head, clauses = _clauses(args, _START_CLAUSES)
    if not head:
        raise CommandError(f"Which framework? Say start followed by one of: {_ids(ctx.frameworks)}.")
    framework_id = resolve_framework(_joined(head), ctx.frameworks)
    partnership = _named(clauses, args, "for", 'For which partnership? For example: for "Anytown place".')
    title = _named(clauses, args, "title", 'What title? For example: title "Winter review 2026".')
    closes = _closes(clauses, args, ctx, "start")
    if isinstance(closes, Clarification):
        return closes
    return StartCommand(framework_id=framework_id, partnership=partnership, closes=closes, title=title)


def _reopen(args: list[_Token], ctx: _Context) -> ParsedCommand:
    head, clauses = _clauses(args, _CLOSES_CLAUSE)
    closes = _closes(clauses, args, ctx, "reopen")
    if isinstance(closes, Clarification):
        return closes
    return ReopenCommand(survey=_survey_ref(head), closes=closes)


def _survey_only(model: Callable[..., ParsedCommand]) -> Callable[[list[_Token], _Context], ParsedCommand]:
    return lambda args, _ctx: model(survey=_survey_ref(args))


def _help(args: list[_Token], _ctx: _Context) -> ParsedCommand:
    topic = " ".join(_joined(args).casefold().split())
    if not topic:
        return HelpCommand()
    if topic in ("date", "dates", "time", "times"):
        return HelpCommand(topic="dates")
    key = tuple(topic.split())
    if key in _COMMAND_WORDS:
        return HelpCommand(topic=_SPECS[_COMMAND_WORDS[key]].name)
    named = [spec.name for spec in COMMANDS if spec.name.startswith(topic) or spec.name.split()[0] == topic]
    if len(named) == 1:
        return HelpCommand(topic=named[0])
    raise CommandError(f"There's no command called “{_clip(topic)}”. Say help to see them all.")


def _lead(
    model: type[GrantLeadCommand | RevokeLeadCommand],
) -> Callable[[list[_Token], _Context], ParsedCommand]:
    verb = "grant lead" if model is GrantLeadCommand else "revoke lead"

    def parse(args: list[_Token], _ctx: _Context) -> ParsedCommand:
        people = _people(args)
        if not people:
            raise CommandError(f"Who? Mention them: {verb} @Name")
        return model(people=tuple(people))

    return parse


def _people(args: list[_Token]) -> list[PersonRef]:
    """Mentions as they come, and typed names split at commas and “and”."""
    people: list[PersonRef] = []
    typed: list[str] = []

    def flush() -> None:
        name = " ".join(typed).strip().lstrip("@").strip()
        if name and name.casefold() not in _PERSON_FILLER:
            people.append(PersonRef(name=name, mentioned=False))
        typed.clear()

    for token in args:
        if token.mention:
            flush()
            people.append(PersonRef(name=token.text, mentioned=True))
            continue
        if token.quoted:
            flush()
            typed.append(token.text)
            flush()
            continue
        for piece in re.split(r"([,;&])", token.text):
            if piece in (",", ";", "&") or piece.casefold() in ("and", "to", "from"):
                flush()
            elif piece:
                if piece.startswith("@"):  # "@Amina @Bob" typed without real mentions
                    flush()
                typed.append(piece)
    flush()
    return people


def _my_organisation(args: list[_Token], _ctx: _Context) -> ParsedCommand:
    if args and args[0].word in ("is", "=", "to", ":"):
        args = args[1:]
    name = _joined(args).strip(" :=")
    if not name:
        return MyOrganisationCommand()
    return MyOrganisationCommand(name=_limited(name, "An organisation's name"))


def _map_domain(args: list[_Token], _ctx: _Context) -> ParsedCommand:
    example = 'For example: map domain anytown-trust.nhs.uk to "Anytown NHS Trust"'
    if not args:
        raise CommandError(f"Which domain? {example}")
    first, rest = args[0], list(args[1:])
    domain_text = first.text
    if not first.quoted and "=" in first.text:
        domain_text, after = first.text.split("=", 1)
        rest.insert(0, _Token(after))
    domain = email_domain(domain_text)
    if rest and rest[0].word in ("to", "=", "as", "is", "->", "→", "for"):
        rest = rest[1:]
    organisation = _joined(rest).lstrip("=→ ").strip()
    if not organisation:
        raise CommandError(f"Map {domain} to which organisation? {example}")
    return MapDomainCommand(domain=domain, organisation=_limited(organisation, "An organisation's name"))


def _unmap_domain(args: list[_Token], _ctx: _Context) -> ParsedCommand:
    if not args:
        raise CommandError("Which domain? For example: unmap domain anytown-trust.nhs.uk")
    return UnmapDomainCommand(domain=email_domain(args[0].text))


def _subscribe(args: list[_Token], ctx: _Context) -> ParsedCommand:
    example = "For example: subscribe weekly Monday 09:00"
    weekday: int | None = None
    at: time | None = None
    index = 0
    while index < len(args):
        word = args[index].word
        if word is None:
            break
        if word in ("daily", "monthly", "fortnightly"):
            raise CommandError(f"Summaries are weekly. {example}")
        if word in ("weekly", "every", "each", "week", "on", "at"):
            index += 1
            continue
        if weekday is None and (day := parse_weekday(word)) is not None:
            weekday, index = day, index + 1
            continue
        if at is None:
            pair = " ".join(token.text for token in args[index : index + 2])
            if (clock := _time_or_none(pair)) is not None and len(args) > index + 1:
                at, index = clock, index + 2
                continue
            if (clock := _time_or_none(args[index].text)) is not None:
                at, index = clock, index + 1
                continue
        break
    if weekday is None:
        raise CommandError(f"Which day of the week? {example}")
    if at is None:
        raise CommandError(f"At what time on {WEEKDAY_NAMES[weekday]}s? {example}")
    rest = args[index:]
    if rest and rest[0].word in ("for", "of", "about"):
        rest = rest[1:]
    rest, weighting = _weighting(rest)
    return SubscribeCommand(weekday=weekday, at=at, target=_target(rest, ctx), weighting=weighting)


def _results(args: list[_Token], ctx: _Context) -> ParsedCommand:
    rest, weighting = _weighting(args)
    return ResultsCommand(target=_target(rest, ctx), weighting=weighting)


def _unsubscribe(args: list[_Token], ctx: _Context) -> ParsedCommand:
    rest = list(args)
    if rest and rest[0].word in ("from", "of", "for"):
        rest = rest[1:]
    return UnsubscribeCommand(target=_target(rest, ctx))


_WEIGHTINGS = {
    "organisation": Weighting.ORGANISATION,
    "organisations": Weighting.ORGANISATION,
    "organization": Weighting.ORGANISATION,
    "organizations": Weighting.ORGANISATION,
    "org": Weighting.ORGANISATION,
    "orgs": Weighting.ORGANISATION,
    "respondent": Weighting.RESPONDENT,
    "respondents": Weighting.RESPONDENT,
    "person": Weighting.RESPONDENT,
    "people": Weighting.RESPONDENT,
}
WEIGHTING_HINT = "Say by organisation (one organisation, one vote) or by respondent (one person, one vote)."


def _weighting(args: Sequence[_Token]) -> tuple[list[_Token], Weighting | None]:
    """A trailing `by organisation` / `by respondent` (also `weighted by …`), taken off the arguments."""
    rest = list(args)
    marks = [i for i, token in enumerate(rest) if token.word in ("by", "per")]
    if not marks:
        return rest, None
    at = marks[-1]
    words = [token.word for token in rest[at + 1 :]]
    if not words:
        raise CommandError(f"By what? {WEIGHTING_HINT}")
    if len(words) != 1 or words[0] not in _WEIGHTINGS:
        return rest, None  # "by" in a survey's title
    start = at - 1 if at > 0 and rest[at - 1].word == "weighted" else at
    return rest[:start], _WEIGHTINGS[words[0] or ""]


def _target(args: Sequence[_Token], ctx: _Context) -> SummaryTarget:
    """`[survey]`, or `partnership <name> [framework <framework>]`."""
    if not args or args[0].word != "partnership":
        return SummaryTarget(survey=_survey_ref(args))
    rest = list(args[1:])
    cut = next((i for i, token in enumerate(rest) if token.word == "framework"), len(rest))
    name = _joined(rest[:cut]).strip(" ,;:")
    if not name:
        raise CommandError('Which partnership? For example: results partnership "Anytown place".')
    framework_id = None
    if cut < len(rest):
        query = _joined(rest[cut + 1 :])
        if not query:
            raise CommandError(f"Which framework? Say framework followed by one of: {_ids(ctx.frameworks)}.")
        framework_id = resolve_framework(query, ctx.frameworks)
    return SummaryTarget(partnership=_limited(name, "A partnership's name"), framework_id=framework_id)


def _framework_export(args: list[_Token], ctx: _Context) -> ParsedCommand:
    """`frameworks export <framework>`: its id or words of its title, as `start` takes them."""
    query = _joined(args)
    if not query:
        raise CommandError(
            f"Which framework? Say frameworks export followed by one of: {_ids(ctx.frameworks)}."
        )
    return FrameworkExportCommand(framework_id=resolve_framework(query, ctx.frameworks))


def _export(args: list[_Token], _ctx: _Context) -> ParsedCommand:
    """`export [survey] [csv|xlsx] [anonymised]`: the format and the option at either end, in either
    order (`export anonymised xlsx #12`, `export #12 as xlsx, anonymised`); the rest names the survey."""
    rest = list(args)
    chosen: ExportFormat | None = None
    anonymise = False
    while rest:
        end = next((i for i in (-1, 0) if rest[i].word in _FORMATS or rest[i].word in _ANONYMISE), None)
        if end is None:
            break
        word = rest.pop(end).word or ""
        if word in _FORMATS and chosen is None:
            chosen = _FORMATS[word]
        elif word in _ANONYMISE:
            anonymise = True
        else:
            raise CommandError("Say one format: export csv or export xlsx.")
        while end == -1 and rest and rest[-1].word in ("as", "to", "in", "and", "&"):
            rest.pop()
    if rest and rest[-1].word in ("pdf", "word", "docx", "json", "xls"):
        raise CommandError("I can export CSV or Excel: say export csv or export xlsx.")
    return ExportCommand(survey=_survey_ref(rest), format=chosen or ExportFormat.CSV, anonymise=anonymise)


_FORMATS = {"csv": ExportFormat.CSV, "xlsx": ExportFormat.XLSX, "excel": ExportFormat.XLSX}
_ANONYMISE = {"anonymised", "anonymized", "anonymise", "anonymize", "anonymous", "anonymously", "anon"}
_START_CLAUSES = {
    "for": "for",
    "closes": "closes",
    "closing": "closes",
    "close": "closes",
    "until": "closes",
    "title": "title",
    "titled": "title",
    "called": "title",
}
_CLAUSE_NAMES = {"for": "The partnership", "closes": "The close date", "title": "The title"}
_CLOSES_CLAUSE = {"closes": "closes", "closing": "closes", "until": "closes"}
_SURVEY_FILLER = {"the", "this", "that", "survey", "for", "of", "on", "number", "no", "no."}
_PERSON_FILLER = {"please", "as", "a", "role", "lead", "leads"}

_PARSERS: dict[str, Callable[[list[_Token], _Context], ParsedCommand]] = {
    "help": _help,
    "surveys": _no_arguments(SurveysCommand),
    "frameworks": _no_arguments(FrameworksCommand),
    "framework_export": _framework_export,
    "subscriptions": _no_arguments(SubscriptionsCommand),
    "domains": _no_arguments(DomainsCommand),
    "status": _survey_only(StatusCommand),
    "results": _results,
    "remind": _survey_only(RemindCommand),
    "close": _survey_only(CloseCommand),
    "unsubscribe": _unsubscribe,
    "start": _start,
    "reopen": _reopen,
    "export": _export,
    "comments": _survey_only(CommentsCommand),
    "subscribe": _subscribe,
    "grant_lead": _lead(GrantLeadCommand),
    "revoke_lead": _lead(RevokeLeadCommand),
    "my_organisation": _my_organisation,
    "map_domain": _map_domain,
    "unmap_domain": _unmap_domain,
}

_Span = tuple[int, int, int]
"""A clause's keyword index and the start and end of its value, in the argument tokens."""


def _clauses(args: list[_Token], keywords: dict[str, str]) -> tuple[list[_Token], dict[str, _Span]]:
    """Split `x [for y] [closes z]…` at its keywords (never quoted words); the head comes first."""
    marks = [(i, keywords[token.word]) for i, token in enumerate(args) if token.word in keywords]
    head_end = marks[0][0] if marks else len(args)
    spans: dict[str, _Span] = {}
    for number, (index, name) in enumerate(marks):
        if name in spans:
            raise CommandError(
                f"{_CLAUSE_NAMES[name]} is given twice: give it once, and put a name or title that "
                "contains “for”, “closes” or “title” in quotes."
            )
        end = marks[number + 1][0] if number + 1 < len(marks) else len(args)
        spans[name] = (index, index + 1, end)
    return args[:head_end], spans


def _named(clauses: dict[str, _Span], args: list[_Token], name: str, ask: str) -> str | None:
    if name not in clauses:
        return None
    _, start, end = clauses[name]
    value = _joined(args[start:end]).rstrip(",;: ")
    if not value:
        raise CommandError(ask)
    return _limited(value, "A title" if name == "title" else "A partnership's name")


def _closes(
    clauses: dict[str, _Span], args: list[_Token], ctx: _Context, verb: Literal["start", "reopen"]
) -> ParsedDate | Clarification | None:
    if "closes" not in clauses:
        return None
    _, start, end = clauses["closes"]
    value = _joined(args[start:end])
    if not value:
        raise CommandError(f"Closes when? For example {EXAMPLES}.")
    try:
        parsed = parse_date(value, now=ctx.now, tz=ctx.tz)
    except DateError as exc:
        raise CommandError(exc.message) from exc
    if isinstance(parsed, ParsedDate):
        return parsed
    return _clarify(parsed, args, (start, end), verb, ctx.tz)


def _clarify(
    ambiguous: Ambiguous,
    args: list[_Token],
    span: tuple[int, int],
    verb: Literal["start", "reopen"],
    tz: ZoneInfo,
) -> Clarification:
    start, end = span
    choices = []
    for option in ambiguous.options:
        tokens = [*args[:start], _Token(option.canonical), *args[end:]]
        choices.append(
            ClarifyChoice(
                label=format_date(option.at, tz), text=" ".join([verb, *(token.render() for token in tokens)])
            )
        )
    return Clarification(about=verb, question=ambiguous.question, choices=tuple(choices))


def _survey_ref(tokens: Sequence[_Token]) -> SurveyRef | None:
    words = list(tokens)
    while words and words[0].word in _SURVEY_FILLER:
        words.pop(0)
    while words and words[-1].word == "survey":
        words.pop()
    if not words:
        return None
    if len(words) == 1 and words[0].word is not None and re.fullmatch(r"(?:#|no\.?)?\d{1,9}", words[0].word):
        number = int(re.sub(r"\D", "", words[0].word))
        if number < 1:
            raise CommandError(
                f"There's no survey #{number}: they are numbered from 1. Say surveys to see them."
            )
        return SurveyRef(number=number)
    return SurveyRef(fragment=_limited(_joined(words), "A survey's title"))


def _time_or_none(text: str) -> time | None:
    try:
        return parse_time_of_day(text)
    except DateError:
        return None


def _limited(text: str, what: str) -> str:
    if len(text) > NAME_LIMIT:
        raise CommandError(f"{what} can be at most {NAME_LIMIT} characters; that one has {len(text)}.")
    return text


_DOMAIN = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def email_domain(text: str) -> str:
    """`@Anytown-Trust.NHS.uk` → `anytown-trust.nhs.uk`; anything that isn't a domain is refused."""
    domain = text.strip().casefold().lstrip("@").rstrip(".")
    if "@" in domain:
        raise CommandError(f"Give just the domain after the @, e.g. {domain.rsplit('@', 1)[1]}.")
    if not _DOMAIN.match(domain):
        raise CommandError(f"“{_clip(text)}” isn't an email domain; for example anytown-trust.nhs.uk.")
    return domain


# --- frameworks ------------------------------------------------------------------------------------


def resolve_framework(query: str, frameworks: Sequence[tuple[str, str]]) -> str:
    """The id of the one framework `query` names: its id or title, a start of either, or title words."""
    if not frameworks:
        raise CommandError("No frameworks are loaded, so there is nothing to start yet.")
    found = _match_framework(_words(query), frameworks)
    if not found:
        trimmed = _words(query)
        while trimmed and trimmed[0] in ("the", "a", "an"):
            trimmed = trimmed[1:]
        while trimmed and trimmed[-1] in ("survey", "framework", "assessment"):
            trimmed = trimmed[:-1]
        found = _match_framework(trimmed, frameworks) if trimmed else []
    if len(found) == 1:
        return found[0][0]
    if found:
        listed = "; ".join(f"{framework_id} ({title})" for framework_id, title in found)
        raise CommandError(f"“{_clip(query)}” could be more than one framework: {listed}. Say which.")
    raise CommandError(
        f"I don't know a framework called “{_clip(query)}”. Choose one of: {_ids(frameworks)}."
    )


def _match_framework(words: list[str], frameworks: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    if not words:
        return []
    query = " ".join(words)
    keyed = [(pair, [" ".join(_words(pair[0])), " ".join(_words(pair[1]))]) for pair in frameworks]
    stages: list[Callable[[list[str]], bool]] = [
        lambda keys: query in keys,
        lambda keys: any(key.startswith(query) for key in keys),
        lambda keys: all(any(w.startswith(q) for w in " ".join(keys).split()) for q in words),
    ]
    for stage in stages:
        found = [pair for pair, keys in keyed if stage(keys)]
        if found:
            return found
    return []


def _words(text: str) -> list[str]:
    return [word for word in re.split(r"[\W_]+", text.casefold()) if word]


def _ids(frameworks: Sequence[tuple[str, str]]) -> str:
    return ", ".join(framework_id for framework_id, _ in frameworks)


# --- help and the manifest ---------------------------------------------------------------------------


def spec_for(command: BaseModel) -> CommandSpec | None:
    """The description of a parsed command (None for unknown text and clarifications)."""
    return _SPECS.get(getattr(command, "kind", ""))


def available(scope: Scope, is_lead: bool) -> list[CommandSpec]:
    return [spec for spec in COMMANDS if scope in _usable(spec, is_lead) and (is_lead or not spec.lead_only)]


def _usable(spec: CommandSpec, is_lead: bool) -> frozenset[Scope]:
    """Where this person can use it."""
    return spec.scopes if is_lead else spec.scopes - spec.leads_only_in


def refusal(kind: str | None, scope: Scope, is_lead: bool) -> str | None:
    """Why this person can't use command `kind` here, or None when they can.

    Pass a command's `kind`, a Clarification's `about` or a CommandError's `kind`, before replying.
    """
    spec = _SPECS.get(kind or "")
    if spec is None:
        return None
    if spec.lead_only and not is_lead:
        return (
            f"Only partnership leads can use “{spec.name}”. A lead can make you one with “grant lead @you”."
        )
    if scope not in _usable(spec, is_lead):
        return spec.elsewhere or f"“{spec.name}” works {_where(_usable(spec, is_lead))}."
    return None


def help_text(scope: Scope, is_lead: bool, topic: str | None = None) -> str:
    """Plain text: the commands this person can use here, or the details of one."""
    if topic is not None:
        return _topic_help(topic, scope, is_lead)
    if scope is Scope.PERSONAL:
        lines = ["Here's what I can do:"]
        lines += [f"• {name} — {description}." for name, description in PARTNER_COMMANDS]
    else:
        lines = ["Here's what I can do (mention me first):"]
    lines += [
        f"• {spec.syntax} — {spec.description}. e.g. {spec.example}" for spec in available(scope, is_lead)
    ]
    if not is_lead:
        lead_names = [spec.name for spec in COMMANDS if spec.lead_only and scope in spec.scopes]
        lines.append(f"Partnership leads can also: {', '.join(lead_names)}.")
    lines.append("Say “help <command>” for more about one, or “help dates” for the dates I understand.")
    return "\n".join(lines)


def _topic_help(topic: str, scope: Scope, is_lead: bool) -> str:
    if topic == "dates":
        return DATE_HELP
    spec = next((spec for spec in COMMANDS if spec.name == topic), None)
    if spec is None:
        return help_text(scope, is_lead)
    lines = [spec.syntax, f"{spec.description}.", f"Example: {spec.example}"]
    if spec.details:
        lines.append(spec.details)
    if spec.lead_only and not is_lead:
        lines.append("Only partnership leads can use it.")
    if scope not in _usable(spec, is_lead):
        lines.append(f"It works {_where(_usable(spec, is_lead))}.")
    return "\n".join(lines)


def _where(scopes: frozenset[Scope]) -> str:
    if scopes == _PERSONAL:
        return "in a 1:1 chat with me"
    if scopes == _SHARED:
        return "in channels and group chats"
    return "everywhere"


def manifest_command_lists() -> list[dict[str, Any]]:
    """`bots[].commandLists` for the Teams app manifest: one list per scope, as the schema advises."""
    lists = []
    for scope in Scope:
        commands = [{"title": name, "description": description} for name, description in PARTNER_COMMANDS]
        commands = commands if scope is Scope.PERSONAL else []
        commands += [
            {"title": spec.name, "description": _menu_line(spec)} for spec in COMMANDS if scope in spec.menu
        ]
        lists.append({"scopes": [str(scope)], "commands": commands})
    return lists


def _menu_line(spec: CommandSpec) -> str:
    """The description with its example when both fit in the menu, else the description alone."""
    suffix = " (leads only)" if spec.lead_only else ""
    line = f"{spec.description}, e.g. {spec.example}{suffix}"
    return line if len(line) <= MENU_DESCRIPTION_LIMIT else spec.description + suffix


def _clip(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
