"""Typed replies: what a person can type instead of using a card (the only way in a terminal).

Commands are whole messages (`skip`, `back`, `stop`…), never substrings. An answer is a whole match
of one choice (`3`, `+2`, `+ 3`, `3.`, `three`, `minus two`, `maturing`, an unambiguous prefix such
as `mat`, `on track`, a score scale's end label such as `fully`, a status's RAG colour such as
`green`), optionally followed by `because …` or `comment: …`, which becomes the comment. A survey
asked with a target takes where they want to be after an arrow (`3 → 4`, `3 -> 4`, `developing ->
maturing`); the target is optional. A reply that fits nothing gets one line saying why and what would fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from dialogs.views import Choice, QuestionView


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
    target: str | None = None
    """Where they want to be (the Choice.value after an arrow); None when not given."""


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
_ARROW = re.compile(r"\s*(?:→|⇒|➔|->|=>|–>|—>)\s*")
"""Between where they are and where they want to be: `3 → 4`, `3 -> 4`, `3->4`."""


def normalise(text: str) -> str:
    return _SPACES.sub(" ", text.strip()).casefold()


def command_of(text: str) -> Command | None:
    """The command a whole message names, if any."""
    return _COMMAND_WORDS.get(normalise(text).rstrip("!. "))


def parse_reply(
    text: str,
    choices: list[Choice],
    *,
    min_label: str | None = None,
    max_label: str | None = None,
    can_go_back: bool = True,
    target_months: int | None = None,
) -> Intent:
    """Interpret a typed reply to a question whose options are `choices` (empty: comment only).

    `min_label`/`max_label` are a score scale's end labels ('Not at all', 'Fully'), which answer too.
    `target_months`: the question also asks where they want to be, typed after an arrow."""
    stripped = text.strip()
    scale = _Scale(choices, min_label, max_label, can_go_back)
    if not stripped:
        return Unrecognised(scale.hint())
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
            "This one isn't scored: write “comment: …” to leave a note, or “skip” to move on."
        )
    answer, comment = stripped, None
    with_comment = _WITH_COMMENT.match(stripped)
    if with_comment:
        answer, comment = with_comment.group("answer"), with_comment.group("comment").strip() or None
    parts = _ARROW.split(answer.strip())
    if len(parts) == 1:
        return scale.choose(answer, comment)
    if target_months is None:
        return scale.refuse("This question asks only where you are now")
    if len(parts) != 2 or not all(parts):
        return scale.refuse(f"Give where you are now, then where you want to be in {target_months} months")
    now, wanted = scale.choose(parts[0], comment), scale.choose(parts[1], None)
    if not isinstance(now, AnswerIntent):
        return now
    if isinstance(wanted, Unrecognised):
        return Unrecognised(f"For where you want to be in {target_months} months: {_lowered(wanted.hint)}")
    assert isinstance(wanted, AnswerIntent)  # choose() answers or says why not
    return AnswerIntent(now.value, comment, target=wanted.value)


def parse_question_reply(text: str, view: QuestionView) -> Intent:
    """Interpret a typed reply to the question `view` shows."""
    return parse_reply(
        text,
        view.choices,
        min_label=view.min_label,
        max_label=view.max_label,
        can_go_back=view.can_go_back,
        target_months=view.target_months,
    )


def describe_options(
    choices: list[Choice], min_label: str | None = None, max_label: str | None = None
) -> str:
    """What can be typed to answer: 'a whole number from -5 to +5', '1 Emerging, 2 Developing…'."""
    numbered = [c for c in choices if c.number is not None]
    if numbered and all(c.label.lstrip("+-").isdigit() for c in numbered):
        low, high = numbered[0], numbered[-1]
        if min_label and max_label:
            return f"a whole number from {low.label} ({min_label}) to {high.label} ({max_label})"
        return f"a whole number from {_span(low.number, high.number)}"
    if numbered:
        return ", ".join(f"{c.number} {c.label}" for c in numbered)
    return ", ".join(c.label for c in choices)


@dataclass(frozen=True)
class _Scale:
    """One question's options, and how to say which of them a typed answer means, or why none."""

    choices: list[Choice]
    min_label: str | None
    max_label: str | None
    can_go_back: bool

    @property
    def numbered(self) -> list[Choice]:
        return [c for c in self.choices if c.number is not None]

    def hint(self) -> str:
        return f"Reply with {self._options()} — or {self._commands()}. Add “because …” to leave a comment."

    def refuse(self, why: str) -> Unrecognised:
        """One line: why the reply was not taken, what would be, and the commands that apply here."""
        return Unrecognised(f"{why}: reply with {self._options()} — or {self._commands()}.")

    def choose(self, answer: str, comment: str | None) -> Intent:
        key = _key(answer)
        said = _clip(answer.strip())
        number = _number(key)
        if number is not None:
            return self._numbered(number, said, comment)
        exact = [c for c in self.choices if key in (normalise(c.label), c.value.casefold())]
        if len(exact) == 1:
            return AnswerIntent(exact[0].value, comment)
        end = self._end(key)
        if end is not None:
            return AnswerIntent(end.value, comment)
        if key in _COLOURS and any(c.rag for c in self.choices):
            return self._coloured(_COLOURS[key], comment)
        prefixed = [c for c in self.choices if normalise(c.label).startswith(key)]
        if len(prefixed) == 1:
            return AnswerIntent(prefixed[0].value, comment)
        if len(prefixed) > 1:
            options = " or ".join(c.label for c in prefixed)
            return Unrecognised(f"“{said}” could be {options}: type a little more of it.")
        return self.refuse(f"I didn't recognise “{said}”")

    def _numbered(self, number: int, said: str, comment: str | None) -> Intent:
        numbered = self.numbered
        if not numbered:
            return self.refuse("Statuses have no numbers")
        match = next((c for c in numbered if c.number == number), None)
        if match is not None:
            return AnswerIntent(match.value, comment)
        shown = _signed(number, numbered[0].number) if _INTEGER.match(said) else said
        return self.refuse(f"{shown} is not on this scale")

    def _end(self, key: str) -> Choice | None:
        """'Fully' or 'Not at all': the score scale's end that carries that label."""
        numbered = self.numbered
        if not numbered:
            return None
        if self.min_label and key == _key(self.min_label):
            return numbered[0]
        if self.max_label and key == _key(self.max_label):
            return numbered[-1]
        return None

    def _coloured(self, rag: str, comment: str | None) -> Intent:
        """A RAG colour names the status of that colour; several of one colour are asked back."""
        matching = [c for c in self.choices if c.rag == rag]
        if len(matching) == 1:
            return AnswerIntent(matching[0].value, comment)
        if matching:
            options = ", ".join(c.label for c in matching[:-1]) + f" or {matching[-1].label}"
            return Unrecognised(f"{rag.capitalize()} could be {options}: which one?")
        return self.refuse(f"No status here is {rag}")

    def _options(self) -> str:
        return describe_options(self.choices, self.min_label, self.max_label)

    def _commands(self) -> str:
        return ", ".join(["skip", *(["back"] if self.can_go_back else []), "stop", "help"])


_COLOURS: dict[str, str] = {
    "blue": "blue",
    "green": "green",
    "amber": "amber",
    "yellow": "amber",
    "orange": "amber",
    "red": "red",
    "grey": "grey",
    "gray": "grey",
}
"""RAG colour words as people type them, by the colour statuses carry (frameworks.schema.Rag)."""

_NUMBER_WORDS: dict[str, int] = {
    word: n
    for n, word in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    )
}
_SIGN_WORDS: dict[str, int] = {"plus": 1, "minus": -1, "negative": -1}
_INTEGER = re.compile(r"^[+\-−]?\d+$")
_SPACED_SIGN = re.compile(r"^([+\-])\s+(?=\d)")
_TRAILING = ".!)"


def _key(answer: str) -> str:
    """A typed answer as it is matched: one case, one kind of minus, no closing full stop, '+ 3' as '+3'."""
    key = normalise(answer).replace("−", "-").rstrip(_TRAILING).strip()
    return _SPACED_SIGN.sub(r"\1", key)


def _number(key: str) -> int | None:
    """'3', '+3', '-2', 'three', 'minus two': the whole number typed, if it is one."""
    if _INTEGER.match(key):
        return int(key)
    words = key.split()
    sign = 1
    if len(words) == 2 and words[0] in _SIGN_WORDS:
        sign, words = _SIGN_WORDS[words[0]], words[1:]
    if len(words) == 1 and words[0] in _NUMBER_WORDS:
        return sign * _NUMBER_WORDS[words[0]]
    if len(words) == 1 and sign != 1 and words[0].isdigit():
        return sign * int(words[0])
    return None


def _span(low: int | None, high: int | None) -> str:
    return f"{low} to +{high}" if (low or 0) < 0 else f"{low} to {high}"


def _signed(number: int, low: int | None) -> str:
    return f"{number:+d}" if (low or 0) < 0 else str(number)


def _lowered(hint: str) -> str:
    return hint[:1].lower() + hint[1:] if hint[:2] != "I " else hint


def _clip(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
