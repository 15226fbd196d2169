"""Reading a command's text: Teams HTML and smart quotes taken apart into tokens, then each command's
arguments parsed into its model (`bot.commands.models`). Which words name which command is the
catalogue's (`bot.commands.catalogue`).

The text arrives with the bot's mention removed but may still carry Teams HTML (`<p>`, `&nbsp;`, links,
`<at>Name</at>` for people) and Outlook's smart quotes.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from bot.commands.dates import (
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
from bot.commands.models import (
    NAME_LIMIT,
    Clarification,
    ClarifyChoice,
    CloseCommand,
    CommandError,
    ExportCommand,
    ExportFormat,
    FrameworkExportCommand,
    GrantLeadCommand,
    MapDomainCommand,
    MyOrganisationCommand,
    ParsedCommand,
    PersonalViewsCommand,
    PersonRef,
    ReopenCommand,
    ResultsCommand,
    RevokeLeadCommand,
    StartCommand,
    SubscribeCommand,
    SummaryTarget,
    SurveyRef,
    UnmapDomainCommand,
    UnsubscribeCommand,
)
from bot.commands.target_parsing import take_target
from bot.commands.view_parsing import take_personal_views
from frameworks.summary import Weighting

# --- reading the text ------------------------------------------------------------------------------

_MARK, _END = "\ue000", "\ue001"
"""Private-use characters standing for a mention while the rest of the HTML is taken apart."""
MENTION = re.compile(r"<at\b[^>]*>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_QUOTES = str.maketrans(
    {"“": '"', "”": '"', "„": '"', "‟": '"', "«": '"', "»": '"', "″": '"', "‘": "'", "’": "'", "‛": "'"}
)
_TRAILING = re.compile(r"[\s.!?…,;:]+$")
_TOKEN = re.compile(rf'{_MARK}(?P<mention>\d+){_END}|"(?P<quoted>[^"]*)"?|(?P<word>[^\s"{_MARK}]+)')


@dataclass(frozen=True)
class Token:
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


def tokenise(text: str) -> list[Token]:
    names: list[str] = []

    def hold(match: re.Match[str]) -> str:
        names.append(plain_text(match.group(1)).lstrip("@"))
        return f" {_MARK}{len(names) - 1}{_END} "

    text = MENTION.sub(hold, text.replace(_MARK, "").replace(_END, ""))
    text = _TRAILING.sub("", plain_text(text))
    tokens: list[Token] = []
    for match in _TOKEN.finditer(text):
        if match["mention"] is not None:
            tokens.append(Token(names[int(match["mention"])], mention=True))
        elif match["quoted"] is not None:
            tokens.append(Token(" ".join(match["quoted"].split()), quoted=True))
        else:
            tokens.append(Token(match["word"]))
    while tokens and tokens[0].mention:  # the bot's own mention, if the handler left it in
        tokens.pop(0)
    return tokens


def joined(tokens: Sequence[Token]) -> str:
    return " ".join(token.text for token in tokens if token.text).strip()


@dataclass(frozen=True)
class ParseContext:
    frameworks: Sequence[tuple[str, str]]
    now: datetime
    tz: ZoneInfo


def no_arguments(model: Callable[[], ParsedCommand]) -> Callable[[list[Token], ParseContext], ParsedCommand]:
    """Listing commands: words after them (`frameworks please`) change nothing."""
    return lambda _args, _ctx: model()


def parse_start(args: list[Token], ctx: ParseContext) -> ParsedCommand:
    args, target, target_months = take_target(args)
    args, personal_views = take_personal_views(args)
    head, clauses = _clauses(args, _START_CLAUSES)
    if not head:
        raise CommandError(f"Which framework? Say start followed by one of: {_ids(ctx.frameworks)}.")
    framework_id = resolve_framework(joined(head), ctx.frameworks)
    partnership = _named(clauses, args, "for", 'For which partnership? For example: for "Anytown place".')
    title = _named(clauses, args, "title", 'What title? For example: title "Winter review 2026".')
    closes = _closes(clauses, args, ctx, "start")
    if isinstance(closes, Clarification):
        return closes
    return StartCommand(
        framework_id=framework_id,
        partnership=partnership,
        closes=closes,
        title=title,
        target=target,
        target_months=target_months,
        personal_views=personal_views is not False,
    )


def parse_reopen(args: list[Token], ctx: ParseContext) -> ParsedCommand:
    head, clauses = _clauses(args, _CLOSES_CLAUSE)
    closes = _closes(clauses, args, ctx, "reopen")
    if isinstance(closes, Clarification):
        return closes
    return ReopenCommand(survey=_survey_ref(head), closes=closes)


def parse_close(args: list[Token], _ctx: ParseContext) -> ParsedCommand:
    rest, personal_views = take_personal_views(args)
    return CloseCommand(survey=_survey_ref(rest), personal_views=personal_views)


def parse_personal_views(args: list[Token], _ctx: ParseContext) -> ParsedCommand:
    words = [token.word for token in args]
    if not words or words[-1] not in _ON_OFF:
        raise CommandError("On or off? For example: personal views #12 off")
    return PersonalViewsCommand(survey=_survey_ref(args[:-1]), on=_ON_OFF[words[-1] or ""])


_ON_OFF = {"on": True, "off": False, "yes": True, "no": False}


def survey_only(model: Callable[..., ParsedCommand]) -> Callable[[list[Token], ParseContext], ParsedCommand]:
    return lambda args, _ctx: model(survey=_survey_ref(args))


def lead_people(
    model: type[GrantLeadCommand | RevokeLeadCommand],
) -> Callable[[list[Token], ParseContext], ParsedCommand]:
    verb = "grant lead" if model is GrantLeadCommand else "revoke lead"

    def parse(args: list[Token], _ctx: ParseContext) -> ParsedCommand:
        people = _people(args)
        if not people:
            raise CommandError(f"Who? Mention them: {verb} @Name")
        return model(people=tuple(people))

    return parse


def _people(args: list[Token]) -> list[PersonRef]:
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


def parse_my_organisation(args: list[Token], _ctx: ParseContext) -> ParsedCommand:
    if args and args[0].word in ("is", "=", "to", ":"):
        args = args[1:]
    name = joined(args).strip(" :=")
    if not name:
        return MyOrganisationCommand()
    return MyOrganisationCommand(name=_limited(name, "An organisation's name"))


def parse_map_domain(args: list[Token], _ctx: ParseContext) -> ParsedCommand:
    example = 'For example: map domain anytown-trust.nhs.uk to "Anytown NHS Trust"'
    if not args:
        raise CommandError(f"Which domain? {example}")
    first, rest = args[0], list(args[1:])
    domain_text = first.text
    if not first.quoted and "=" in first.text:
        domain_text, after = first.text.split("=", 1)
        rest.insert(0, Token(after))
    domain = email_domain(domain_text)
    if rest and rest[0].word in ("to", "=", "as", "is", "->", "→", "for"):
        rest = rest[1:]
    organisation = joined(rest).lstrip("=→ ").strip()
    if not organisation:
        raise CommandError(f"Map {domain} to which organisation? {example}")
    return MapDomainCommand(domain=domain, organisation=_limited(organisation, "An organisation's name"))


def parse_unmap_domain(args: list[Token], _ctx: ParseContext) -> ParsedCommand:
    if not args:
        raise CommandError("Which domain? For example: unmap domain anytown-trust.nhs.uk")
    return UnmapDomainCommand(domain=email_domain(args[0].text))


def parse_subscribe(args: list[Token], ctx: ParseContext) -> ParsedCommand:
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


def parse_results(args: list[Token], ctx: ParseContext) -> ParsedCommand:
    rest, weighting = _weighting(args)
    return ResultsCommand(target=_target(rest, ctx), weighting=weighting)


def parse_unsubscribe(args: list[Token], ctx: ParseContext) -> ParsedCommand:
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


def _weighting(args: Sequence[Token]) -> tuple[list[Token], Weighting | None]:
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


def _target(args: Sequence[Token], ctx: ParseContext) -> SummaryTarget:
    """`[survey]`, or `partnership <name> [framework <framework>]`."""
    if not args or args[0].word != "partnership":
        return SummaryTarget(survey=_survey_ref(args))
    rest = list(args[1:])
    cut = next((i for i, token in enumerate(rest) if token.word == "framework"), len(rest))
    name = joined(rest[:cut]).strip(" ,;:")
    if not name:
        raise CommandError('Which partnership? For example: results partnership "Anytown place".')
    framework_id = None
    if cut < len(rest):
        query = joined(rest[cut + 1 :])
        if not query:
            raise CommandError(f"Which framework? Say framework followed by one of: {_ids(ctx.frameworks)}.")
        framework_id = resolve_framework(query, ctx.frameworks)
    return SummaryTarget(partnership=_limited(name, "A partnership's name"), framework_id=framework_id)


def parse_framework_export(args: list[Token], ctx: ParseContext) -> ParsedCommand:
    """`frameworks export <framework>`: its id or words of its title, as `start` takes them."""
    query = joined(args)
    if not query:
        raise CommandError(
            f"Which framework? Say frameworks export followed by one of: {_ids(ctx.frameworks)}."
        )
    return FrameworkExportCommand(framework_id=resolve_framework(query, ctx.frameworks))


def parse_export(args: list[Token], _ctx: ParseContext) -> ParsedCommand:
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

_Span = tuple[int, int, int]
"""A clause's keyword index and the start and end of its value, in the argument tokens."""


def _clauses(args: list[Token], keywords: dict[str, str]) -> tuple[list[Token], dict[str, _Span]]:
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


def _named(clauses: dict[str, _Span], args: list[Token], name: str, ask: str) -> str | None:
    if name not in clauses:
        return None
    _, start, end = clauses[name]
    value = joined(args[start:end]).rstrip(",;: ")
    if not value:
        raise CommandError(ask)
    return _limited(value, "A title" if name == "title" else "A partnership's name")


def _closes(
    clauses: dict[str, _Span], args: list[Token], ctx: ParseContext, verb: Literal["start", "reopen"]
) -> ParsedDate | Clarification | None:
    if "closes" not in clauses:
        return None
    _, start, end = clauses["closes"]
    value = joined(args[start:end])
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
    args: list[Token],
    span: tuple[int, int],
    verb: Literal["start", "reopen"],
    tz: ZoneInfo,
) -> Clarification:
    start, end = span
    choices = []
    for option in ambiguous.options:
        tokens = [*args[:start], Token(option.canonical), *args[end:]]
        choices.append(
            ClarifyChoice(
                label=format_date(option.at, tz), text=" ".join([verb, *(token.render() for token in tokens)])
            )
        )
    return Clarification(about=verb, question=ambiguous.question, choices=tuple(choices))


def _survey_ref(tokens: Sequence[Token]) -> SurveyRef | None:
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
    return SurveyRef(fragment=_limited(joined(words), "A survey's title"))


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
        raise CommandError(f"“{clip(text)}” isn't an email domain; for example anytown-trust.nhs.uk.")
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
        raise CommandError(f"“{clip(query)}” could be more than one framework: {listed}. Say which.")
    raise CommandError(f"I don't know a framework called “{clip(query)}”. Choose one of: {_ids(frameworks)}.")


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


def clip(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
