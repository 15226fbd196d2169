"""Typed replies: what a person can type instead of using a card (the only way in a terminal).

Commands are whole messages (`skip`, `back`, `stop`…), never substrings. An answer is a whole match
of one choice (`3`, `+2`, `maturing`, an unambiguous prefix such as `mat`, `on track`), optionally
followed by `because …` or `comment: …`, which becomes the comment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from dialogs.views import Choice


class Command(StrEnum):
    SKIP = "skip"
    BACK = "back"
    STOP = "stop"
    HELP = "help"
    REVIEW = "review"
    SUBMIT = "submit"
    MY_SURVEYS = "my surveys"
    RESUME = "resume"
    DOMAINS = "domains"
    SUBMIT_ANYWAY = "submit anyway"
    YES = "yes"
    """Confirms what the bot just asked (submitting with questions unanswered); nothing on its own."""


_COMMAND_WORDS: dict[str, Command] = {
    "skip": Command.SKIP,
    "pass": Command.SKIP,
    "back": Command.BACK,
    "previous": Command.BACK,
    "stop": Command.STOP,
    "pause": Command.STOP,
    "later": Command.STOP,
    "save and finish later": Command.STOP,
    "finish later": Command.STOP,
    "help": Command.HELP,
    "?": Command.HELP,
    "review": Command.REVIEW,
    "submit": Command.SUBMIT,
    "my surveys": Command.MY_SURVEYS,
    "surveys": Command.MY_SURVEYS,
    "resume": Command.RESUME,
    "continue": Command.RESUME,
    "domains": Command.DOMAINS,
    "submit anyway": Command.SUBMIT_ANYWAY,
    "yes": Command.YES,
    "yes please": Command.YES,
}


@dataclass(frozen=True)
class CommandIntent:
    command: Command


@dataclass(frozen=True)
class ChangeIntent:
    """`change 5`: go back to question 5 (from the review, or at any time)."""

    position: int


@dataclass(frozen=True)
class DomainIntent:
    """`domain 2`: answer that domain's questions now (its first unanswered one)."""

    position: int


@dataclass(frozen=True)
class AnswerIntent:
    value: str
    """The chosen Choice.value."""
    comment: str | None = None


@dataclass(frozen=True)
class CommentIntent:
    comment: str


@dataclass(frozen=True)
class Unrecognised:
    hint: str


Intent = CommandIntent | ChangeIntent | DomainIntent | AnswerIntent | CommentIntent | Unrecognised

_SPACES = re.compile(r"\s+")
_COMMENT_ONLY = re.compile(r"^comment\s*:\s*(?P<comment>.+)$", re.IGNORECASE | re.DOTALL)
_WITH_COMMENT = re.compile(
    r"^(?P<answer>.+?)\s*(?:[,;:.-]\s*)?(?:\bbecause\b|\bcomment\s*:)\s*(?P<comment>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_CHANGE = re.compile(r"^(?:change|edit)\s+(?:question\s+)?(?P<n>\d{1,4})$", re.IGNORECASE)
_DOMAIN = re.compile(r"^domain\s+(?P<n>\d{1,3})$", re.IGNORECASE)
_NUMBER = re.compile(r"^[+\-−]?\d+$")


def normalise(text: str) -> str:
    return _SPACES.sub(" ", text.strip()).casefold()


def command_of(text: str) -> Command | None:
    """The command a whole message names, if any."""
    return _COMMAND_WORDS.get(normalise(text).rstrip("!. "))


def parse_reply(text: str, choices: list[Choice]) -> Intent:
    """Interpret a typed reply to a question whose options are `choices` (empty: comment only)."""
    stripped = text.strip()
    if not stripped:
        return Unrecognised(_hint(choices))
    command = command_of(stripped)
    if command is not None:
        return CommandIntent(command)
    change = _CHANGE.match(normalise(stripped))
    if change:
        return ChangeIntent(int(change.group("n")))
    domain = _DOMAIN.match(normalise(stripped))
    if domain:
        return DomainIntent(int(domain.group("n")))
    comment_only = _COMMENT_ONLY.match(stripped)
    if comment_only:
        return CommentIntent(comment_only.group("comment").strip())
    if not choices:
        return Unrecognised(
            "This one isn't scored: write `comment: …` to leave a note, or `skip` to move on."
        )
    answer, comment = stripped, None
    with_comment = _WITH_COMMENT.match(stripped)
    if with_comment:
        answer, comment = with_comment.group("answer"), with_comment.group("comment").strip() or None
    return _choose(answer, comment, choices)


def _choose(answer: str, comment: str | None, choices: list[Choice]) -> Intent:
    key = normalise(answer).replace("−", "-")
    numbered = [c for c in choices if c.number is not None]
    if _NUMBER.match(key) and numbered:
        number = int(key)
        match = next((c for c in numbered if c.number == number), None)
        if match is None:
            low, high = numbered[0].number, numbered[-1].number
            return Unrecognised(
                f"{_signed(number, low)} is not on this scale: choose from {_span(low, high)}."
            )
        return AnswerIntent(match.value, comment)
    exact = [c for c in choices if key in (normalise(c.label), c.value.casefold())]
    if len(exact) == 1:
        return AnswerIntent(exact[0].value, comment)
    prefixed = [c for c in choices if normalise(c.label).startswith(key)]
    if len(prefixed) == 1:
        return AnswerIntent(prefixed[0].value, comment)
    if len(prefixed) > 1:
        options = " or ".join(c.label for c in prefixed)
        return Unrecognised(f"“{answer.strip()}” could be {options}: type a little more of it.")
    return Unrecognised(f"I didn't recognise “{_clip(answer)}”. {_hint(choices)}")


def describe_options(choices: list[Choice]) -> str:
    """What can be typed to answer: 'a whole number from -5 to +5', '1 Emerging, 2 Developing…'."""
    numbered = [c for c in choices if c.number is not None]
    if numbered and all(c.label.lstrip("+-").isdigit() for c in numbered):
        return f"a whole number from {_span(numbered[0].number, numbered[-1].number)}"
    if numbered:
        return ", ".join(f"{c.number} {c.label}" for c in numbered)
    return ", ".join(c.label for c in choices)


def _hint(choices: list[Choice]) -> str:
    options = describe_options(choices)
    return f"Reply with {options} — or skip, back, stop, help. Add “because …” to leave a comment."


def _span(low: int | None, high: int | None) -> str:
    return f"{low} to +{high}" if (low or 0) < 0 else f"{low} to {high}"


def _signed(number: int, low: int | None) -> str:
    return f"{number:+d}" if (low or 0) < 0 else str(number)


def _clip(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
