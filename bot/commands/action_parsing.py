"""Reading the action plan's commands: `action add …`, `action A3 …` and `actions […]`.

`action add "<text>" [for <element>] owner @person|email due <date> [survey #N]`: the clauses may come
in any order after the text; a keyword inside quotes is text. The element is matched later, against
the survey's framework (bot.leads.actions), so a typo gets the near matches, not a parse error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.commands.dates import EXAMPLES, Ambiguous, DateError, ParsedDate, parse_date
from bot.commands.models import (
    ActionAddCommand,
    ActionChangeCommand,
    ActionsCommand,
    CommandError,
    ParsedCommand,
    PersonRef,
    RagName,
    StateName,
    SummaryTarget,
    SurveyRef,
)
from bot.commands.parsing import ParseContext, Token, clip, joined

ADD_EXAMPLE = 'action add "Agree a shared data plan" for data sharing owner @Amina Khan due end of month'
CHANGE_EXAMPLE = "action A3 rag at risk"
_CLAUSES = {"for": "for", "owner": "owner", "owned": "owner", "due": "due", "survey": "survey"}
_REFERENCE = re.compile(r"^a?(\d{1,9})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SURVEY_NUMBER = re.compile(r"^(?:#|no\.?)?(\d{1,9})$")
RAG_WORDS: dict[str, RagName] = {
    "on track": "on-track",
    "on-track": "on-track",
    "green": "on-track",
    "at risk": "at-risk",
    "at-risk": "at-risk",
    "amber": "at-risk",
    "off track": "off-track",
    "off-track": "off-track",
    "red": "off-track",
    "complete": "complete",
    "completed": "complete",
    "done": "complete",
    "blue": "complete",
}
"""What a lead may type for each RAG status; the colours are the seed tracker's."""
_STATE_WORDS: dict[str, StateName] = {
    "close": "closed",
    "closed": "closed",
    "reopen": "open",
    "re-open": "open",
    "open": "open",
    "live": "live",
}
_PERIODS = {"weekly": 7, "fortnightly": 14, "monthly": 30, "month": 30, "week": 7, "fortnight": 14}
_UNITS = {"day": 1, "days": 1, "week": 7, "weeks": 7, "month": 30, "months": 30}


def parse_action_add(args: list[Token], ctx: ParseContext) -> ParsedCommand:
    marks = [(i, _CLAUSES[t.word]) for i, t in enumerate(args) if t.word in _CLAUSES]
    head_end = marks[0][0] if marks else len(args)
    text = joined(args[:head_end]).strip(" ,;:")
    if not text:
        raise CommandError(f"What is the action? For example: {ADD_EXAMPLE}")
    if len(text) > 2000:
        raise CommandError(f"An action's text can be at most 2000 characters; that one has {len(text)}.")
    spans: dict[str, list[Token]] = {}
    for number, (index, name) in enumerate(marks):
        end = marks[number + 1][0] if number + 1 < len(marks) else len(args)
        if name in spans:
            raise CommandError(f"“{name}” is given twice. Put text containing “{name}” in quotes.")
        spans[name] = args[index + 1 : end]
    owner, email = _owner(spans.get("owner"))
    due_tokens = spans.get("due")
    if not due_tokens:
        raise CommandError(f"When is it due? Add due <date>, e.g. due end of month. Dates like {EXAMPLES}.")
    due = _due(joined(due_tokens), ctx)
    element = joined(spans["for"]).strip(" ,;:") if "for" in spans else None
    if element is not None and not element:
        raise CommandError("For which element? Give its id or words of its title, e.g. for data sharing.")
    return ActionAddCommand(
        text=text,
        element=element,
        owner=owner,
        owner_email=email,
        due=due,
        survey=_survey(spans.get("survey")),
    )


def _owner(tokens: Sequence[Token] | None) -> tuple[PersonRef | None, str | None]:
    if not tokens:
        raise CommandError("Who owns it? Add owner @Name (mention them) or owner their.email@nhs.net.")
    mentions = [token for token in tokens if token.mention]
    if len(mentions) == 1 and len(tokens) == 1:
        return PersonRef(name=mentions[0].text, mentioned=True), None
    typed = joined(tokens).strip(" ,;:")
    if len(tokens) == 1 and _EMAIL.match(typed):
        return None, typed.lower()
    if mentions or not typed.lstrip("@").strip():
        raise CommandError(
            f"“{clip(typed)}” isn't one person: mention the owner (type @ and pick them) or give their email."
        )
    return PersonRef(name=typed.lstrip("@").strip()[:200], mentioned=False), None  # a name typed, not picked


def _due(text: str, ctx: ParseContext) -> ParsedDate:
    try:
        parsed = parse_date(text, now=ctx.now, tz=ctx.tz)
    except DateError as exc:
        raise CommandError(exc.message) from exc
    if isinstance(parsed, Ambiguous):
        raise CommandError(f"{parsed.question} Say the date again, e.g. due 4 Dec.")
    return parsed


def _survey(tokens: Sequence[Token] | None) -> SurveyRef | None:
    if tokens is None:
        return None
    words = [t for t in tokens if t.word not in ("number", "no")]
    match = _SURVEY_NUMBER.match(words[0].word or "") if len(words) == 1 else None
    if match is None or int(match.group(1)) < 1:
        raise CommandError("Which survey? Give its number, e.g. survey #12 (say surveys to see them).")
    return SurveyRef(number=int(match.group(1)))


def parse_action_change(args: list[Token], _ctx: ParseContext) -> ParsedCommand:
    """`action A3 rag at risk | close | reopen | live | checkin every 2 weeks | note "<text>"`."""
    match = _REFERENCE.match(args[0].word or "") if args else None
    if match is None:
        raise CommandError(
            f"Which action? Give its reference: {CHANGE_EXAMPLE}, action A3 close, or {ADD_EXAMPLE}."
        )
    number = int(match.group(1))
    if number < 1:
        raise CommandError("Actions are numbered from A1. Say actions to see them.")
    rest = list(args[1:])
    note = None
    cut = next((i for i, token in enumerate(rest) if token.word in ("note", "because", "comment")), None)
    if cut is not None:
        note = joined(rest[cut + 1 :]).strip(" :") or None
        rest = rest[:cut]
    words = " ".join(token.text.casefold() for token in rest).strip()
    if words.startswith("rag") or words.startswith("status"):
        words = words.split(" ", 1)[1].strip() if " " in words else ""
        return ActionChangeCommand(number=number, rag=_rag(words), note=note)
    if words in RAG_WORDS:
        return ActionChangeCommand(number=number, rag=RAG_WORDS[words], note=note)
    if words in _STATE_WORDS:
        return ActionChangeCommand(number=number, state=_STATE_WORDS[words], note=note)
    if words.startswith("checkin") or words.startswith("check-in") or words.startswith("check in"):
        return ActionChangeCommand(number=number, checkin_days=_period(words), note=note)
    if not words and note:
        return ActionChangeCommand(number=number, note=note)
    raise CommandError(
        f"What should change for A{number}? Say rag on track|at risk|off track|complete, close, reopen, "
        "live, or checkin every 2 weeks|monthly."
    )


def _rag(words: str) -> RagName:
    if words in RAG_WORDS:
        return RAG_WORDS[words]
    raise CommandError("Say rag on track, at risk, off track or complete (green, amber, red or done).")


def _period(words: str) -> int:
    """`checkin every 2 weeks`, `check-in monthly`, `checkin every 10 days` → days."""
    rest = re.sub(r"^check(?:-|\s)?in[s]?\s*", "", words).removeprefix("every").strip()
    if rest in _PERIODS:
        return _PERIODS[rest]
    match = re.fullmatch(r"(\d{1,3})\s+(days?|weeks?|months?)", rest)
    if match is not None and 1 <= int(match.group(1)) * _UNITS[match.group(2)] <= 366:
        return int(match.group(1)) * _UNITS[match.group(2)]
    raise CommandError("How often? Say checkin every 2 weeks, checkin monthly or checkin every 10 days.")


def parse_actions(args: list[Token], _ctx: ParseContext) -> ParsedCommand:
    """`actions`, `actions #12` / `actions survey 12`, `actions partnership <name>`."""
    rest = [token for token in args if token.word not in ("for", "of", "the", "plan")]
    if rest and rest[0].word == "partnership":
        name = joined(rest[1:]).strip(" ,;:")
        if not name:
            raise CommandError('Which partnership? For example: actions partnership "Anytown place".')
        return ActionsCommand(target=SummaryTarget(partnership=name[:200]))
    if rest and rest[0].word == "survey":
        rest = rest[1:]
    if not rest:
        return ActionsCommand()
    match = _SURVEY_NUMBER.match(rest[0].word or "") if len(rest) == 1 else None
    if match is not None and int(match.group(1)) >= 1:
        return ActionsCommand(target=SummaryTarget(survey=SurveyRef(number=int(match.group(1)))))
    return ActionsCommand(target=SummaryTarget(survey=SurveyRef(fragment=joined(rest)[:200])))
