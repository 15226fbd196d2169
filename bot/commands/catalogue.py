"""The catalogue of the leads' chat commands: one row per command, naming the words that call it, the
parser of its arguments, its model, where it works and how help and the Teams app manifest describe it.
Parsing (`parse_command`), help and the manifest's command lists (`bot.commands.help`) and the lead use
cases' dispatch (`bot.leads.dispatch`, by the row's model) all read these rows.

The first word or two name the command, matched as whole tokens, never as a substring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from bot.commands.action_parsing import ADD_EXAMPLE, parse_action_add, parse_action_change, parse_actions
from bot.commands.consensus_parsing import parse_consensus
from bot.commands.dates import DATE_HELP
from bot.commands.models import (
    ALL_SCOPES,
    PERSONAL_SCOPE,
    SHARED_SCOPES,
    ActionAddCommand,
    ActionChangeCommand,
    ActionsCommand,
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
)
from bot.commands.parsing import (
    MENTION,
    ParseContext,
    Token,
    clip,
    joined,
    lead_people,
    no_arguments,
    parse_close,
    parse_export,
    parse_framework_export,
    parse_map_domain,
    parse_my_organisation,
    parse_personal_views,
    parse_reopen,
    parse_results,
    parse_start,
    parse_subscribe,
    parse_unmap_domain,
    parse_unsubscribe,
    plain_text,
    survey_only,
    tokenise,
)

Parser = Callable[[list[Token], ParseContext], ParsedCommand]
"""Reads a command's arguments (the tokens after its words) into its model, or raises CommandError."""


@dataclass(frozen=True, kw_only=True)
class CommandSpec:
    """One command: the words that call it, its parser and model, and how help and the Teams app
    manifest describe it."""

    model: type[BaseModel]
    """The command's model; its `kind` names the command, and the lead use cases are looked up by it."""
    words: tuple[tuple[str, ...], ...]
    """What is typed first, one or two words (casefolded); the first spelling is the usual one."""
    parser: Parser
    name: str
    """The command's name in help; also the manifest command's title."""
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

    @property
    def kind(self) -> str:
        """The model's `kind`, as `refusal` and `CommandError.kind` name a command."""
        return str(self.model.model_fields["kind"].default)


def _help(args: list[Token], _ctx: ParseContext) -> ParsedCommand:
    topic = " ".join(joined(args).casefold().split())
    if not topic:
        return HelpCommand()
    if topic in ("date", "dates", "time", "times"):
        return HelpCommand(topic="dates")
    key = tuple(topic.split())
    if key in _BY_WORDS:
        return HelpCommand(topic=_BY_WORDS[key].name)
    named = [spec.name for spec in COMMANDS if spec.name.startswith(topic) or spec.name.split()[0] == topic]
    if len(named) == 1:
        return HelpCommand(topic=named[0])
    raise CommandError(f"There's no command called “{clip(topic)}”. Say help to see them all.")


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        model=HelpCommand,
        words=(("help",), ("commands",)),
        parser=_help,
        name="help",
        syntax="help [command]",
        description="What I can do here, or how to use one command",
        example="help start",
        scopes=ALL_SCOPES,
        lead_only=False,
        menu=ALL_SCOPES,
    ),
    CommandSpec(
        model=SurveysCommand,
        words=(("surveys",),),
        parser=no_arguments(SurveysCommand),
        name="surveys",
        syntax="surveys",
        description="The surveys started here, open and closed, with their numbers",
        example="surveys",
        scopes=ALL_SCOPES,
        lead_only=False,
        leads_only_in=PERSONAL_SCOPE,  # a partner's "surveys" in 1:1 is their own list (dialogs.intents)
        menu=SHARED_SCOPES,
        details="In a 1:1 chat with me, a lead sees every survey they can reach and where it was started.",
    ),
    CommandSpec(
        model=FrameworksCommand,
        words=(("frameworks",),),
        parser=no_arguments(FrameworksCommand),
        name="frameworks",
        syntax="frameworks",
        description="The frameworks a survey can use, with their ids",
        example="frameworks",
        scopes=ALL_SCOPES,
        lead_only=False,
        menu=ALL_SCOPES,
    ),
    CommandSpec(
        model=StatusCommand,
        words=(("status",),),
        parser=survey_only(StatusCommand),
        name="status",
        syntax="status [survey]",
        description="How many have answered so far, by organisation",
        example="status #12",
        scopes=ALL_SCOPES,
        lead_only=False,
        menu=ALL_SCOPES,
        details="Name a survey by its number (#12) or words from its title; without one, the latest here.",
    ),
    CommandSpec(
        model=ResultsCommand,
        words=(("results",),),
        parser=parse_results,
        name="results",
        syntax="results [survey | partnership <name> [framework <framework>]] [by organisation|respondent]",
        description="A summary of the answers: where partners agree and where they differ",
        example="results #12 by respondent",
        scopes=ALL_SCOPES,
        lead_only=False,
        menu=ALL_SCOPES,
        details=(
            "Without a survey, the latest survey started here. With partnership <name>, that partnership's "
            "latest round of its framework, compared with the round before. By organisation gives each "
            "organisation one vote, so a large trust cannot swamp a small partner; by respondent gives "
            "each person one. Without either, the bot's default weighting."
        ),
    ),
    CommandSpec(
        model=StartCommand,
        words=(("start",),),
        parser=parse_start,
        name="start",
        syntax='start <framework> [for <partnership>] [closes <date>] [title "<text>"]',
        description="Start a survey and invite the partners",
        example="start place-partnership-maturity for Anytown closes Friday 5pm",
        scopes=SHARED_SCOPES,
        lead_only=True,
        menu=SHARED_SCOPES,
        elsewhere=(
            "Start a survey in the channel or group chat whose members should answer it: mention me "
            "there, e.g. @Survey bot start place-partnership-maturity. Everyone in it is invited once "
            "you confirm."
        ),
        details=(
            "The framework is its id or words from its title (say frameworks to see them). Put a name "
            'or title that contains "for", "closes" or "title" in quotes. Without personal views: partners '
            "get no card of their own comparing their answers with the partnership's when it closes. "
            "With target (or with target in 18 months): each question also asks where partners want to "
            "be, 12 months ahead unless the framework or you say otherwise; without target: only now. "
            + DATE_HELP
        ),
    ),
    CommandSpec(
        model=RemindCommand,
        words=(("remind",),),
        parser=survey_only(RemindCommand),
        name="remind",
        syntax="remind [survey]",
        description="Remind everyone who hasn't submitted yet",
        example="remind #12",
        scopes=ALL_SCOPES,
        lead_only=True,
        menu=ALL_SCOPES,
    ),
    CommandSpec(
        model=CloseCommand,
        words=(("close",),),
        parser=parse_close,
        name="close",
        syntax="close [survey] [with|without personal views]",
        description="Close a survey now: no more answers",
        example="close #12",
        scopes=ALL_SCOPES,
        lead_only=True,
        menu=ALL_SCOPES,
        details=(
            "Each partner who answered then gets their own view in a 1:1 chat with me: their answers beside "
            "the partnership's median and spread per domain, and where they differ most (only figures the "
            "channel may see). On unless the survey was started without personal views; say with or "
            "without personal views here to change that. A survey closing at its date does the same."
        ),
    ),
    CommandSpec(
        model=ReopenCommand,
        words=(("reopen",), ("re-open",)),
        parser=parse_reopen,
        name="reopen",
        syntax="reopen [survey] [closes <date>]",
        description="Open a closed survey again, with a new close date if you like",
        example="reopen #12 closes in 1 week",
        scopes=ALL_SCOPES,
        lead_only=True,
        menu=SHARED_SCOPES,
        details=DATE_HELP,
    ),
    CommandSpec(
        model=ExportCommand,
        words=(("export",),),
        parser=parse_export,
        name="export",
        syntax="export [survey] [csv|xlsx] [anonymised]",
        description="Every answer of a survey as a CSV or Excel file, sent to you privately",
        example="export #12 xlsx anonymised",
        scopes=ALL_SCOPES,
        lead_only=True,
        menu=ALL_SCOPES,
        details=(
            "The file comes to your 1:1 chat with me, wherever you ask; allow it there and it is saved to "
            "your OneDrive. Anonymised: no names, small organisations left blank, dates instead of times. "
            "Excel adds a summary sheet."
        ),
    ),
    CommandSpec(
        model=CommentsCommand,
        words=(("comments",),),
        parser=survey_only(CommentsCommand),
        name="comments",
        syntax="comments [survey]",
        description="What partners wrote, by question, unattributed and sent to you privately",
        example="comments #12",
        scopes=ALL_SCOPES,
        lead_only=True,
        menu=PERSONAL_SCOPE,
        details=(
            "Never shown in a channel: asked for there, they come to your 1:1 chat with me. Questions "
            "answered by too few people to keep them anonymous show none."
        ),
    ),
    CommandSpec(
        model=SubscribeCommand,
        words=(("subscribe",),),
        parser=parse_subscribe,
        name="subscribe",
        syntax=(
            "subscribe weekly <day> <HH:MM> [survey | partnership <name> [framework <framework>]] "
            "[by organisation|respondent]"
        ),
        description="Post a summary here every week",
        example='subscribe weekly Monday 09:00 partnership "Anytown place"',
        scopes=SHARED_SCOPES,
        lead_only=True,
        menu=SHARED_SCOPES,
        details=(
            "Without a survey, the latest survey started here. With partnership <name>, each week's post "
            "shows the partnership's latest round, so its next round is picked up by itself. Each post "
            "says what changed since the last one; a week with no new answers gets one line."
        ),
    ),
    CommandSpec(
        model=UnsubscribeCommand,
        words=(("unsubscribe",),),
        parser=parse_unsubscribe,
        name="unsubscribe",
        syntax="unsubscribe [survey | partnership <name> [framework <framework>]]",
        description="Stop a weekly summary here",
        example="unsubscribe #12",
        scopes=SHARED_SCOPES,
        lead_only=True,
    ),
    CommandSpec(
        model=SubscriptionsCommand,
        words=(("subscriptions",),),
        parser=no_arguments(SubscriptionsCommand),
        name="subscriptions",
        syntax="subscriptions",
        description="The weekly summaries posted here",
        example="subscriptions",
        scopes=SHARED_SCOPES,
        lead_only=False,
    ),
    CommandSpec(
        model=GrantLeadCommand,
        words=(("grant", "lead"), ("grant", "leads")),
        parser=lead_people(GrantLeadCommand),
        name="grant lead",
        syntax="grant lead @person",
        description="Let someone start and run surveys",
        example="grant lead @Amina Khan",
        scopes=ALL_SCOPES,
        lead_only=True,
        menu=SHARED_SCOPES,
        details="Mention the person (type @ and pick them); several people can be granted at once.",
    ),
    CommandSpec(
        model=RevokeLeadCommand,
        words=(("revoke", "lead"), ("revoke", "leads")),
        parser=lead_people(RevokeLeadCommand),
        name="revoke lead",
        syntax="revoke lead @person",
        description="Stop someone being a lead",
        example="revoke lead @Amina Khan",
        scopes=ALL_SCOPES,
        lead_only=True,
    ),
    CommandSpec(
        model=MyOrganisationCommand,
        words=(("my", "organisation"), ("my", "organization"), ("my", "org")),
        parser=parse_my_organisation,
        name="my organisation",
        syntax="my organisation [<name>]",
        description="See or correct the organisation you answer for",
        example="my organisation Anytown Community Health Trust",
        scopes=PERSONAL_SCOPE,
        lead_only=False,
        menu=PERSONAL_SCOPE,
    ),
    CommandSpec(
        model=MapDomainCommand,
        words=(("map", "domain"), ("organisation", "domain"), ("organization", "domain")),
        parser=parse_map_domain,
        name="map domain",
        syntax='map domain <domain> to "<organisation>"',
        description="People whose email is at this domain answer for this organisation",
        example='map domain anytown-trust.nhs.uk to "Anytown NHS Trust"',
        scopes=ALL_SCOPES,
        lead_only=True,
        details=(
            "Shared domains such as nhs.net belong to many organisations: people there say "
            "“my organisation …” instead. Also: organisation domain <domain> = <organisation>."
        ),
    ),
    CommandSpec(
        model=UnmapDomainCommand,
        words=(("unmap", "domain"),),
        parser=parse_unmap_domain,
        name="unmap domain",
        syntax="unmap domain <domain>",
        description="Forget an email domain's organisation",
        example="unmap domain anytown-trust.nhs.uk",
        scopes=ALL_SCOPES,
        lead_only=True,
    ),
    CommandSpec(
        model=DomainsCommand,
        words=(("domains",), ("organisation", "domains"), ("organization", "domains")),
        parser=no_arguments(DomainsCommand),
        name="domains",
        syntax="domains",
        description="Email domains and the organisations they stand for",
        example="domains",
        scopes=ALL_SCOPES,
        lead_only=True,
    ),
    CommandSpec(
        model=FrameworkExportCommand,
        words=(("frameworks", "export"),),
        parser=parse_framework_export,
        name="frameworks export",
        syntax="frameworks export <framework>",
        description="A framework as an Excel workbook to adapt, sent to you privately",
        example="frameworks export place-partnership-maturity",
        scopes=ALL_SCOPES,
        lead_only=True,
        details="Your partnership's latest published version, else the built-in one. Send it back to me "
        "changed, in our 1:1 chat, to publish your own version.",
    ),
    CommandSpec(
        model=ActionAddCommand,
        words=(("action", "add"), ("add", "action")),
        parser=parse_action_add,
        name="action add",
        syntax='action add "<text>" [for <element>] owner @person|email due <date> [survey #N]',
        description="Add an action to the plan, with its owner and due date",
        example=ADD_EXAMPLE,
        scopes=ALL_SCOPES,
        lead_only=True,
        details=(
            "The element is its id or words of its title in the survey's framework (the latest survey "
            "here, or survey #N). The owner is asked how it is going in a 1:1 chat with me, monthly unless "
            "you say otherwise (action A3 checkin every 2 weeks). " + DATE_HELP
        ),
    ),
    CommandSpec(
        model=ActionChangeCommand,
        words=(("action",),),
        parser=parse_action_change,
        name="action",
        syntax="action A<n> rag <status> | close | reopen | live | checkin every <period>",
        description="Change an action: its RAG status, open/closed/live, or how often its owner is asked",
        example="action A3 rag at risk",
        scopes=ALL_SCOPES,
        lead_only=True,
        details=(
            "RAG as in the delivery plan: on track (green), at risk (amber), off track (red), complete "
            '(blue). Add note "<text>" to say why; every change is kept in the action\'s history.'
        ),
    ),
    CommandSpec(
        model=ActionsCommand,
        words=(("actions",), ("action", "plan")),
        parser=parse_actions,
        name="actions",
        syntax="actions [survey | partnership <name>]",
        description="The action plan: references, owners, due dates and RAG",
        example="actions #12",
        scopes=ALL_SCOPES,
        lead_only=False,
        leads_only_in=SHARED_SCOPES,
        details=(
            "Typed by a lead in a channel, the plan is posted there for everyone in it. In a 1:1 chat with "
            "me, a lead sees every plan they can reach; anyone else sees the actions they own."
        ),
    ),
    CommandSpec(
        model=ConsensusCommand,
        words=(("consensus",),),
        parser=parse_consensus,
        name="consensus",
        syntax="consensus [survey] [add <element>, <element>…]",
        description="A second look at the elements partners split on, asked of those who answered",
        example="consensus #12 add vision, data",
        scopes=ALL_SCOPES,
        lead_only=True,
        details=(
            "Opens a consensus round at once: everyone who answered the survey is invited to look again at "
            "the elements its summary marks as split, and at any you add by id or title. Each sees how "
            "everyone answered (no figure below the anonymity threshold), the reasons given (only where "
            "enough people commented, never who), and their own first answer, then confirms or changes it "
            "and says why. Its results stay hidden from partners until you close it and share them "
            "(share results #N); you see them first in a 1:1 chat with me. Shared, results and the weekly "
            "post show agreement before and after."
        ),
    ),
    CommandSpec(
        model=ShareResultsCommand,
        words=(("share", "results"), ("share", "result")),
        parser=survey_only(ShareResultsCommand),
        name="share results",
        syntax="share results [survey]",
        description="Show a closed consensus round's results to partners: in results and weekly posts",
        example="share results #13",
        scopes=ALL_SCOPES,
        lead_only=True,
        details=(
            "A consensus round's results stay yours after it closes, so you can read them first (results "
            "in a 1:1 chat with me). Shared, everyone in its channel sees them. Typed in the channel, the "
            "results card is posted there."
        ),
    ),
    CommandSpec(
        model=PersonalViewsCommand,
        words=(("personal", "views"), ("personal", "view")),
        parser=parse_personal_views,
        name="personal views",
        syntax="personal views [survey] on|off",
        description="Whether partners get their own view of the results when a survey closes",
        example="personal views #12 off",
        scopes=ALL_SCOPES,
        lead_only=True,
        details=(
            "On by default: when the survey closes, by close or at its date, each partner who answered gets "
            "a card in a 1:1 chat with me with their answers beside the partnership's figures (only those "
            "the channel may see). Start a survey without personal views to have them off from the start."
        ),
    ),
)

_BY_KIND: dict[str, CommandSpec] = {spec.kind: spec for spec in COMMANDS}
_BY_WORDS: dict[tuple[str, ...], CommandSpec] = {words: spec for spec in COMMANDS for words in spec.words}

PARTNER_COMMANDS: tuple[tuple[str, str], ...] = (
    ("my surveys", "Your open surveys and how far you got"),
    ("resume", "Carry on where you left off"),
)
"""The 1:1 survey commands `dialogs.intents` reads (not parsed here): first in personal help and menu."""

_HALF_COMMANDS = {
    "grant": "grant lead @Name",
    "revoke": "revoke lead @Name",
    "map": 'map domain anytown-trust.nhs.uk to "Anytown NHS Trust"',
    "unmap": "unmap domain anytown-trust.nhs.uk",
}
"""First words of two-word commands: said alone, they get the full form back."""


def parse_command(
    text: str, *, frameworks: Sequence[tuple[str, str]], now: datetime, tz: ZoneInfo
) -> ParsedCommand:
    """Read one message; `frameworks` are the (id, title) pairs `start` may name.

    Returns the command, an `UnknownCommand`, or a `Clarification` when a date has two readings;
    raises CommandError when the command is recognised but can't be used as typed.
    """
    stripped = plain_text(MENTION.sub(" ", text))
    if stripped == "?":
        return HelpCommand()
    tokens = tokenise(text)
    words = [token.word or "" for token in tokens[:2]]
    for length in (2, 1):
        spec = _BY_WORDS.get(tuple(words[:length])) if len(words) >= length else None
        if spec is not None:
            try:
                return spec.parser(tokens[length:], ParseContext(frameworks, now, tz))
            except CommandError as exc:
                exc.kind = spec.kind
                raise
    if words and words[0] in _HALF_COMMANDS:
        raise CommandError(f"Did you mean “{_HALF_COMMANDS[words[0]]}”?")
    return UnknownCommand(text=joined(tokens))


def spec_for(command: BaseModel) -> CommandSpec | None:
    """The catalogue row of a parsed command (None for unknown text and clarifications)."""
    return _BY_KIND.get(getattr(command, "kind", ""))


def spec_named(kind: str | None) -> CommandSpec | None:
    """The catalogue row of a command's `kind` (None for unknown text and clarifications)."""
    return _BY_KIND.get(kind or "")
