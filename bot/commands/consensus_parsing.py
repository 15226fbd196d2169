"""`consensus [survey] [add <elements>]`: the round to revisit, and the elements the lead adds to the
split ones, separated by commas (a quoted name may hold a comma). Names are matched to the framework's
elements when the round is known (frameworks.summary.delphi)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.commands.models import NAME_LIMIT, CommandError, ConsensusCommand, ParsedCommand, SurveyRef
from bot.commands.parsing import ParseContext, Token, survey_only

ELEMENTS_LIMIT = 20
"""Names one command may add: a consensus round is a short second look."""
_ADD = {"add", "adding", "plus"}
ADD_EXAMPLE = "consensus #12 add vision, data"


def parse_consensus(args: list[Token], ctx: ParseContext) -> ParsedCommand:
    at = next((index for index, token in enumerate(args) if token.word in _ADD), None)
    head = args if at is None else args[:at]
    names = [] if at is None else element_names(args[at + 1 :])
    if at is not None and not names:
        raise CommandError(f"Add which elements? Name them after add, e.g. {ADD_EXAMPLE}.")
    if len(names) > ELEMENTS_LIMIT:
        raise CommandError(f"Add at most {ELEMENTS_LIMIT} elements: a consensus round is a short look.")
    found = survey_only(_with_survey)(head, ctx)
    assert isinstance(found, ConsensusCommand)
    return found.model_copy(update={"elements": tuple(names)})


def _with_survey(survey: SurveyRef | None) -> ConsensusCommand:
    return ConsensusCommand(survey=survey)


def element_names(tokens: Sequence[Token]) -> list[str]:
    """Names separated by commas or semicolons; a quoted name is one name whatever it holds."""
    names: list[str] = []
    words: list[str] = []

    def flush() -> None:
        name = " ".join(words).strip()
        words.clear()
        if name:
            if len(name) > NAME_LIMIT:
                raise CommandError(f"An element's name is at most {NAME_LIMIT} characters.")
            names.append(name)

    for token in tokens:
        if token.quoted or token.mention:
            flush()
            words.append(token.text)
            flush()
            continue
        parts = token.text.replace(";", ",").split(",")
        for index, part in enumerate(parts):
            if part:
                words.append(part)
            if index < len(parts) - 1:
                flush()
    flush()
    return list(dict.fromkeys(names))
